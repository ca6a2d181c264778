"""Tags of the small weights shipped inside the package (``kdpose/assets/``, see its README): recipes cite them by
tag (``model.init_weights``, ``distill.teacher_weights``), so they work from any folder, not only the repository
root. Trained on kdpose's synthetic data at the demo's scale (RGB: 64x96 input, body 17 keypoints; depth: 184x184
crops of 320x240 depth images)."""
from ._builder import PretrainedCfg, register_pretrained

_SOURCE = "kdpose (shipped, synthetic data)"

register_pretrained(
    PretrainedCfg("rtmpose-s.synth-demo_96x64", "rtmpose-s", "coco", (64, 96), url="", source=_SOURCE,
                  notes="the demo's RTMPose-s teacher (float16)", asset="demo_teacher_rtmpose-s_coco.safetensors"),
    PretrainedCfg("cspnext-t-udp.synth-demo-backbone_96x64", "cspnext-t-udp", "coco", (64, 96), url="",
                  source=_SOURCE, notes="backbone.* only (a CSPNeXt-t UDP heatmap pre-training run): start a "
                  "CSPNeXt-t network from it with model.init_weights + model.init_prefix: backbone.",
                  asset="demo_student_rtmpose-t_backbone_coco.safetensors"),
    PretrainedCfg("mpm-2s.synth-depth-demo_184x184", "mpm-2s", "coco", (184, 184), url="", source=_SOURCE,
                  notes="the depth demo's MPM-2S teacher (width 64, float16): synthetic depth scenes, COCO-17 limbs",
                  asset="demo_teacher_mpm-2s-w64_depth.safetensors"),
)
