"""Tags of the small weights shipped inside the package (``kdpose/assets/``, see its README): recipes cite them by
tag (``model.init_weights``, ``distill.teacher_weights``), so they work from any folder, not only the repository
root. Trained on kdpose's synthetic data only: the `standard` preset's teachers and detector (640x480 scenes, 96x128
crops, body 17 or whole-body 133), the `hard` demo scale's weights (64x96 crops, body 17) and the depth demo's
(184x184 crops of 320x240 depth images).

Each entry names the recipe that trained it, its model card (``docs/models/<tag>.md``) and, where the file holds a
whole network, an accuracy check: a small fixed val set and the numbers measured on it, asserted by
``tests/models/test_shipped_accuracy.py`` (``python -m kdpose.tasks.accuracy TAG`` measures them again). A new entry
comes from ``python -m kdpose.tasks.ship RUN_DIR --tag TAG``, which prints it."""
from .pretrained import AccuracyCheck, PretrainedCfg, register_pretrained

_SOURCE = "kdpose (shipped, synthetic data)"
# the depth demo's held-out domain (kdpose.tasks.depth_setting.synthetic_cfg, its val split, seed 2)
_DEPTH_SETTINGS = (("noise", 0.3), ("dropout_prob", 0.5), ("dropout_rate", 0.2), ("occlusion", 0.4), ("clutter", 4))

_STANDARD = ("the heatmap (UDP) teacher of the DistilPose tables on the standard preset, and stage 1 of the RTMPose-m "
             "teacher")



def _shipped(tag: str, model: str, layout: str, input_size: tuple[int, int], **facts) -> PretrainedCfg:
    """An entry for a file in kdpose/assets/ (no URL), trained on the synthetic data only."""
    return PretrainedCfg(tag, model, layout, input_size, url="", source=_SOURCE, synthetic=True, **facts)


register_pretrained(
    # the `standard` preset's RTMPose-m teacher (issue 22), interim: best weights after epoch 11 of 30 (val AP 0.708)
    _shipped("rtmpose-m.synth-standard_128x96", "rtmpose-m", "coco", (96, 128),
             notes="The RTMPose-m teacher of the DWPose demo and tables on the standard preset, started from the "
             "backbone of cspnext-m-udp.synth-standard_128x96 (that stage 1 took 9.48 core-hours of its own). "
             "Interim: the best weights after epoch 11 of the recipe's 30; that run's checkpoint was lost at epoch "
             "14 (its machine), and final weights need the recipe run again from the start "
             "(bash scripts/train_teacher.sh)",
             asset="rtmpose-m.synth-standard_128x96.safetensors", recipe="configs/rtmpose-m_synth-standard.yaml",
             # 32 held-out images drawn like its val split (trained on seed 0; val seed 0; this check seed 1)
             check=AccuracyCheck(metrics=(("AP", 0.7069), ("AP50", 0.8842), ("AR", 0.7318), ("PCK@0.2", 0.9579)),
                                 images=32, size=(640, 480), max_people=4, seed=1, preset="standard")),
    # the `standard` preset's whole-body RTMPose-m teacher (issue 22, stretch): best weights of the 5 epochs, the last
    # (val whole-body AP 0.271; body 0.716, foot 0.486, face 0.281, hand 0.186)
    _shipped("rtmpose-m.synth-standard-wholebody_128x96", "rtmpose-m", "coco_wholebody", (96, 128),
             notes="The whole-body RTMPose-m teacher on the standard preset, started from "
             "rtmpose-m.synth-standard_128x96 with model.init_partial (the new keypoints' rows from their body "
             "keypoint); the best weights of the recipe's 5 epochs (the last)",
             asset="rtmpose-m.synth-standard-wholebody_128x96.safetensors",
             recipe="configs/rtmpose-m_wholebody_synth-standard.yaml",
             # 32 held-out images drawn like its val split (trained on seed 0; val seed 0; this check seed 1)
             check=AccuracyCheck(metrics=(("AP", 0.3101), ("AP50", 0.699), ("AR", 0.3727), ("PCK@0.2", 0.9774)),
                                 images=32, size=(640, 480), max_people=4, seed=1, preset="standard")),
    # the `standard` preset's CSPNeXt-m UDP heatmap model (640x480 scenes, 96x128 input): one float16 file, two tags
    _shipped("cspnext-m-udp.synth-standard_128x96", "cspnext-m-udp", "coco", (96, 128),
             notes=_STANDARD, asset="cspnext-m-udp.synth-standard_128x96.safetensors",
             recipe="configs/cspnext-m_udp_synth-standard.yaml",
             # 32 held-out images drawn like its val split (trained on seed 0; val seed 0; this check seed 1)
             check=AccuracyCheck(metrics=(("AP", 0.5352), ("AP50", 0.8838), ("AR", 0.5939), ("PCK@0.2", 0.954)),
                                 images=32, size=(640, 480), max_people=4, seed=1, preset="standard")),
    _shipped("cspnext-m-udp.synth-standard-backbone_128x96", "cspnext-m-udp", "coco", (96, 128),
             notes="the backbone.* tensors of cspnext-m-udp.synth-standard_128x96 (the same file): where the "
             "RTMPose-m teacher of configs/rtmpose-m_synth-standard.yaml starts",
             loads="backbone", asset="cspnext-m-udp.synth-standard_128x96.safetensors",
             recipe="configs/cspnext-m_udp_synth-standard.yaml"),
    # the `standard` preset's strong CSPNeXt-m UDP heatmap teacher (issue 23): val AP 0.727 after 6 epochs
    _shipped("cspnext-m-udp.synth-standard-teacher_128x96", "cspnext-m-udp", "coco", (96, 128),
             notes="the strong heatmap (UDP) teacher of the DistilPose tables on the standard preset: the network of "
             "cspnext-m-udp.synth-standard_128x96, started from the backbone of rtmpose-m.synth-standard_128x96 "
             "with a new head, 6 epochs", asset="cspnext-m-udp.synth-standard-teacher_128x96.safetensors",
             recipe="configs/cspnext-m_udp_synth-standard_from-rtmpose-m.yaml",
             # 32 held-out images drawn like its val split (trained on seed 0; val seed 0; this check seed 1)
             check=AccuracyCheck(metrics=(("AP", 0.7215), ("AP50", 0.9196), ("AR", 0.7606), ("PCK@0.2", 0.9643)),
                                 images=32, size=(640, 480), max_people=4, seed=1, preset="standard")),
    # the `standard` preset's person detector (issue 23): 12 epochs, val box AP 0.800 (unlabelled people ignored)
    _shipped("kdpose-det-tiny.synth-standard_320", "kdpose-det-tiny", "", (320, 320),
             notes="the person detector of kdpose demo and kdpose infer on synthetic scenes (the default detector): "
             "one class, trained on the standard preset's 20000 scenes only, so not a detector for real photos",
             asset="kdpose-det-tiny.synth-standard_320.safetensors",
             recipe="configs/kdpose-det-tiny_synth-standard.yaml",
             # 32 held-out scenes drawn like its val split (trained on seed 0; val seed 0; this check seed 1)
             check=AccuracyCheck(metrics=(("AP", 0.8131), ("AP50", 0.9533), ("AP75", 0.8816), ("AR", 0.8576)),
                                 images=32, size=(640, 480), max_people=4, seed=1, preset="standard",
                                 modality="detection", ignore_unlabelled=True)),
    _shipped("rtmpose-s.synth-demo_96x64", "rtmpose-s", "coco", (64, 96),
             notes="the RTMPose-s teacher of the demo's `hard` setting until 2026-12-05 and of the CPU-scale DWPose "
             "recipes (float16)", asset="demo_teacher_rtmpose-s_coco.safetensors",
             recipe="configs/demo_teacher_coco.yaml",
             # 32 held-out images of the demo's distribution (trained on seed 1, validated on seed 2)
             check=AccuracyCheck(metrics=(("AP", 0.0227), ("AP50", 0.0748), ("AR", 0.0277), ("PCK@0.2", 0.7324)),
                                 images=32, size=(320, 240), max_people=2, seed=7)),
    _shipped("cspnext-t-udp.synth-demo-backbone_96x64", "cspnext-t-udp", "coco", (64, 96),
             notes="backbone.* only (a CSPNeXt-t UDP heatmap pre-training run): start a "
             "CSPNeXt-t network from it with model.init_weights + model.init_prefix: backbone.",
             asset="demo_student_rtmpose-t_backbone_coco.safetensors", loads="backbone",
             recipe="configs/demo_cspnext-t_udp_coco.yaml"),  # no check: the file has no head to score
    _shipped("mpm-2s.synth-depth-demo_184x184", "mpm-2s", "coco", (184, 184),
             notes="the depth demo's MPM-2S teacher (width 64, float16): synthetic depth scenes, COCO-17 limbs",
             asset="demo_teacher_mpm-2s-w64_depth.safetensors",
             recipe="python -m kdpose.demo.depth_assets --steps 3500 --threads 1",
             # the first 12 of the 60 held-out scenes its metadata's val numbers were measured on
             check=AccuracyCheck(metrics=(("F", 0.3180), ("F_upper", 0.2497)), images=12, size=(320, 240),
                                 max_people=3, seed=2, modality="depth", settings=_DEPTH_SETTINGS,
                                 input_size=(248, 184))),
)
