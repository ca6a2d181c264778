#!/usr/bin/env bash
# Train the shipped RTMPose-m teacher on the `standard` synthetic preset in one resumable command:
#   stage 2: RTMPose-m (SimCC) from the shipped stage-1 backbone -> work_dirs/rtmpose-m_synth-standard/
# Stage 1 (CSPNeXt-m heatmap UDP, configs/cspnext-m_udp_synth-standard.yaml, ~5 h of a 2-core CPU) is shipped as
# cspnext-m-udp.synth-standard_128x96 / cspnext-m-udp.synth-standard-backbone_128x96, which stage 2's recipe starts
# from; `bash scripts/train_teacher.sh --with-stage1` trains it again first (then stage 2 starts from that run's
# final weights instead of the shipped ones).
# Each stage checkpoints every 100 iterations, stops cleanly on SIGTERM / Ctrl-C, and continues exactly where it
# stopped (--auto-resume); a finished stage is not trained again, so after any stop rerun the same line.
# Other arguments go to the trainer (e.g. --set train.device=cuda).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
stage2=()
if [ "${1:-}" = "--with-stage1" ]; then
  shift
  stage1=cspnext-m_udp_synth-standard
  if [ -f "work_dirs/$stage1/final.safetensors" ]; then
    echo "== $stage1: finished (work_dirs/$stage1/final.safetensors)"
  else
    echo "== $stage1"
    .venv/bin/kdpose train "configs/$stage1.yaml" --auto-resume "$@"
  fi
  stage2=(--set "model.init_weights=work_dirs/$stage1/final.safetensors")
fi
stage=rtmpose-m_synth-standard
if [ -f "work_dirs/$stage/final.safetensors" ]; then
  echo "== $stage: finished (work_dirs/$stage/final.safetensors)"
  exit 0
fi
echo "== $stage"
.venv/bin/kdpose train "configs/$stage.yaml" --auto-resume ${stage2[@]+"${stage2[@]}"} "$@"
