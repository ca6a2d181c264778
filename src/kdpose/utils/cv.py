"""OpenCV process hygiene.

OpenCV's worker-thread pool does not survive ``fork``: a forked child that touches the pool (``cv2.setNumThreads``
or a parallel kernel) can wait forever for threads that only exist in the parent. Every place that forks worker
processes therefore shrinks the parent's pool to one thread first, so the children inherit a pool-free OpenCV and
never need to reconfigure it.
"""
from __future__ import annotations

import contextlib
from typing import Iterator


def opencv_single_threaded() -> int:
    """Make OpenCV single-threaded in this process (safe to fork afterwards); returns the previous thread count."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    return before


@contextlib.contextmanager
def opencv_fork_safe() -> Iterator[None]:
    """Run the body (which forks worker processes) with OpenCV single-threaded here, then restore the thread count."""
    import cv2

    before = opencv_single_threaded()
    try:
        yield
    finally:
        cv2.setNumThreads(before)
