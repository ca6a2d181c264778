"""Model zoo. Each family file registers its factories; add a family with one import line below."""
from ._registry import MODELS, create_model, list_models, register_model
from .pose_model import PoseModel

# model families (one import line each)

__all__ = ["MODELS", "PoseModel", "create_model", "list_models", "register_model"]
