"""Loss modules: (output, target) -> Tensor, written once and reused by training and distillation."""
from .kl_discret import KLDiscretLoss, SimCCLoss, simcc_kl

__all__ = ["KLDiscretLoss", "SimCCLoss", "simcc_kl"]
