"""Model zoo. Each family file registers its factories; add a family with one import line below."""
from ._registry import MODEL_TASKS, MODELS, create_model, list_models, model_task, register_model
from .loading import load_model
from .pose_model import PoseModel
from .pretrained import PRETRAINED, AccuracyCheck, PretrainedCfg, list_pretrained
from .weights import load_weights, save_weights

# model families (one import line each)
from . import pose_machines  # noqa: F401,E402  (cpm, rpm, spm, mpm and the paper's -Ns rows)
from . import rtmpose  # noqa: F401,E402  (rtmpose-*, dwpose-*)
from . import cspnext_udp  # noqa: F401,E402  (cspnext-{t,s,m,l}-udp: RTMPose backbone pre-training)
from . import simple_baseline  # noqa: F401,E402  (simplebaseline-res50/101/152)
from . import hrnet_pose  # noqa: F401,E402  (hrnet-w32/w48, -stage3)
from . import tokenpose  # noqa: F401,E402  (tokenpose-s-v1/s-v2/b/l, tokenpose-w48-d12)
from . import distilpose  # noqa: F401,E402  (distilpose-s/l, deeppose-res50)
from . import sdpose  # noqa: F401,E402  (sdpose-t/s-v1/s-v2/b/reg, sdpose-mini-*)
from . import token_cspnext  # noqa: F401,E402  (tokenpose-cspnext-s/t, distilpose-cspnext-t: CPU-scale token pair)
from . import person_detector  # noqa: F401,E402  (kdpose-det-nano/tiny: the built-in person detector)
from . import shipped  # noqa: F401,E402  (tags of the weights shipped in kdpose/assets)

__all__ = ["AccuracyCheck", "MODELS", "MODEL_TASKS", "PRETRAINED", "PoseModel", "PretrainedCfg", "create_model", "list_models",
           "list_pretrained", "load_model", "load_weights", "model_task", "register_model", "save_weights"]
