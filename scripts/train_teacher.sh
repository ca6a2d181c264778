#!/usr/bin/env bash
# Train the shipped RTMPose-m teacher on the `standard` synthetic preset in one resumable command:
#   stage 1: CSPNeXt-m heatmap (UDP) training      -> work_dirs/cspnext-m_udp_synth-standard/
#   stage 2: RTMPose-m (SimCC) from that backbone  -> work_dirs/rtmpose-m_synth-standard/
# Each stage checkpoints every 100 iterations and continues exactly where it stopped (--auto-resume), and a
# finished stage is not trained again, so after any stop (time limit, reboot) rerun the same line.
# Extra arguments go to both stages (e.g. --set train.device=cuda).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
for stage in cspnext-m_udp_synth-standard rtmpose-m_synth-standard; do
  if [ -f "work_dirs/$stage/final.safetensors" ]; then
    echo "== $stage: finished (work_dirs/$stage/final.safetensors)"
    continue
  fi
  echo "== $stage"
  .venv/bin/kdpose train "configs/$stage.yaml" --auto-resume "$@"
done
