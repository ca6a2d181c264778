"""Flip test (``flip_test``): written once, beside the codecs whose ``unflip`` it uses (:mod:`kdpose.codecs.flip`),
so that the trainer's evaluator and both inference backends share it; re-exported here for inference users."""
from ..codecs.flip import flip_test

__all__ = ["flip_test"]
