#!/usr/bin/env bash
# Set up (if needed) and run the main job. Extra arguments go to the command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/kdpose demo "$@"
