"""Distillation methods: one file each, registered in DISTILLERS; add a method with one import line below."""
from ..registry import Registry

DISTILLERS = Registry("distiller")

# methods (one import line each)

__all__ = ["DISTILLERS"]
