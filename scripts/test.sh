#!/usr/bin/env bash
# Set up (if needed) and run the test suite. Extra arguments go to pytest.
#   bash scripts/test.sh            in ./.venv, with the versions pinned in requirements/constraints.txt (CI, demo)
#   bash scripts/test.sh --latest   in ./.venv-latest, with the newest release of every dependency (CPU torch still
#                                   pinned): run it before each release, so a breaking release is found here first
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if [ "${1:-}" = "--latest" ]; then
  shift
  venv=.venv-latest
  bash scripts/setup.sh --latest
else
  bash scripts/setup.sh
fi
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
