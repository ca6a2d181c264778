"""Model zoo. Each family file registers its factories; add a family with one import line below."""
from ._registry import MODELS, create_model, list_models, register_model
from ._builder import PRETRAINED, PretrainedCfg, list_pretrained, load_model, load_weights, save_weights
from .pose_model import PoseModel

# model families (one import line each)
from . import rtmpose  # noqa: F401,E402  (rtmpose-*, dwpose-*)

__all__ = ["MODELS", "PRETRAINED", "PoseModel", "PretrainedCfg", "create_model", "list_models", "list_pretrained",
           "load_model", "load_weights", "register_model", "save_weights"]
