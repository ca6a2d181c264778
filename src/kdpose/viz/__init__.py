"""Drawing: COCO/MMPose style (:mod:`kdpose.viz.draw`) and OpenPose/ControlNet style (:mod:`kdpose.viz.openpose`).
The skeleton is always passed explicitly."""
from .draw import draw_boxes, draw_people, draw_skeleton
from .openpose import OpenPoseParts, draw_openpose, split_openpose

__all__ = ["draw_boxes", "draw_people", "draw_skeleton", "draw_openpose", "split_openpose", "OpenPoseParts"]
