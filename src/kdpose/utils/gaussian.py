"""The 1-D Gaussian kernel OpenCV's ``GaussianBlur`` uses, in numpy (the torch codecs and the torch-free ONNX
decoders share it, so both smooth exactly as MMPose's post-processing does with ``cv2``)."""
from __future__ import annotations

import numpy as np

# cv2.getGaussianKernel(size, sigma <= 0) uses these fixed binomial tables for sizes up to 7
_TABLES = {1: [1.0], 3: [0.25, 0.5, 0.25], 5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
           7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125]}


def opencv_gaussian_kernel(size: int) -> np.ndarray:
    """``cv2.getGaussianKernel(size, 0)`` as float64: the binomial tables for size <= 7, else the rule
    sigma = 0.3 * ((size - 1) / 2 - 1) + 0.8, normalised to sum 1."""
    if size in _TABLES:
        return np.asarray(_TABLES[size], dtype=np.float64)
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(t ** 2) / (2 * sigma ** 2))
    return k / k.sum()
