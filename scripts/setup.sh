#!/usr/bin/env bash
# Create a virtual environment and install kdpose with its test/report extras.
#   bash scripts/setup.sh            ./.venv, every package at the version in requirements/constraints.txt (what the
#                                    tests, the demo and CI run against)
#   bash scripts/setup.sh --latest   ./.venv-latest, the newest release of every package (the pre-release check of
#                                    `bash scripts/test.sh --latest`)
# Idempotent: the pinned install re-runs only when pyproject.toml, this script or the constraints file change; the
# latest install always looks for newer releases. Torch is always the CPU build: it is installed first, on its own and
# pinned ($KDPOSE_TORCH, default torch==2.13.0), so that nothing pulls the multi-GB CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH=${KDPOSE_TORCH:-torch==2.13.0}
LOCK=requirements/constraints.txt
mode=pinned
venv=.venv
if [ "${1:-}" = "--latest" ]; then
  mode=latest
  venv=.venv-latest
elif [ -n "${1:-}" ]; then
  echo "setup.sh: unknown option '$1' (use --latest or nothing)" >&2
  exit 2
fi
if [ ! -x "$venv/bin/python" ]; then
  "$PY" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet)
if [ "$mode" = latest ]; then
  only_torch=$(mktemp)
  trap 'rm -f "$only_torch"' EXIT
  echo "$TORCH" > "$only_torch"   # keeps the resolver on the CPU build while everything else moves to its newest
  "${pip[@]}" --upgrade pip >/dev/null 2>&1 || true
  "${pip[@]}" "$TORCH"
  "${pip[@]}" --upgrade --upgrade-strategy eager -c "$only_torch" -e ".[dev]"
  exit 0
fi
stamp=$venv/.kdpose-installed
want=$(cat pyproject.toml scripts/setup.sh "$LOCK" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pyver=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  lockver=$(sed -n 's/^# python \([0-9.]*\)$/\1/p' "$LOCK" | head -1)
  constraints=(-c "$LOCK")
  if [ "$pyver" != "$lockver" ]; then
    echo "setup.sh: $LOCK pins the versions tested on Python $lockver; this is Python $pyver, so the newest" \
         "releases are installed instead (as with --latest)" >&2
    constraints=()
  fi
  "${pip[@]}" --upgrade pip >/dev/null 2>&1 || true
  "${pip[@]}" "$TORCH"
  "${pip[@]}" ${constraints[@]+"${constraints[@]}"} -e ".[dev]"
  echo "$want" > "$stamp"
fi
