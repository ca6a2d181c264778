"""Tags of the small weights shipped inside the package (``kdpose/assets/``, see its README): recipes cite them by
tag (``model.init_weights``, ``distill.teacher_weights``), so they work from any folder, not only the repository
root. Trained on kdpose's synthetic data at the demo's scale (64x96 input, body 17 keypoints)."""
from ._builder import PretrainedCfg, register_pretrained

_SOURCE = "kdpose (shipped, synthetic data)"

register_pretrained(
    PretrainedCfg("rtmpose-s.synth-demo_96x64", "rtmpose-s", "coco", (64, 96), url="", source=_SOURCE,
                  notes="the demo's RTMPose-s teacher (float16)", asset="demo_teacher_rtmpose-s_coco.safetensors"),
    PretrainedCfg("cspnext-t-udp.synth-demo-backbone_96x64", "cspnext-t-udp", "coco", (64, 96), url="",
                  source=_SOURCE, notes="backbone.* only (a CSPNeXt-t UDP heatmap pre-training run): start a "
                  "CSPNeXt-t network from it with model.init_weights + model.init_prefix: backbone.",
                  asset="demo_student_rtmpose-t_backbone_coco.safetensors"),
)
