#!/usr/bin/env bash
# Create a virtual environment and install kdpose with its test/report extras.
#   bash scripts/setup.sh            ./.venv, every package at the version in requirements/constraints.txt (what the
#                                    tests, the demo and CI run against)
#   bash scripts/setup.sh --latest   ./.venv-latest, the newest release of every package (the pre-release check of
#                                    `bash scripts/test.sh --latest`)
# Idempotent: the pinned install re-runs only when pyproject.toml, this script or the constraints file change; the
# latest install always looks for newer releases. Torch is always the CPU build: it is installed first, on its own and
# pinned ($KDPOSE_TORCH, default torch==2.13.0), so that nothing pulls the multi-GB CUDA wheels; where the configured
# package indexes would give a CUDA build (PyPI's Linux wheels, which depend on nvidia-* packages), it comes from
# PyTorch's CPU index ($KDPOSE_TORCH_CPU_INDEX) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH=${KDPOSE_TORCH:-torch==2.13.0}
CPU_INDEX=${KDPOSE_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
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

install_torch() {
  # Resolve first without downloading the wheels (--dry-run --report): a resolution that brings nvidia-* packages is a
  # CUDA build, so install from the CPU index instead. If the dry run fails (an old pip), install as configured.
  local report
  report=$("${pip[@]}" --dry-run --ignore-installed --report - "$TORCH" 2>/dev/null || true)
  if printf '%s' "$report" | "$venv/bin/python" -c '
import json, sys
names = [i["metadata"]["name"].lower() for i in json.load(sys.stdin).get("install", [])]
sys.exit(0 if any(n.startswith("nvidia-") for n in names) else 1)' 2>/dev/null; then
    echo "setup.sh: the configured package index offers a CUDA build of $TORCH; installing the CPU build from" \
         "$CPU_INDEX" >&2
    "${pip[@]}" --index-url "$CPU_INDEX" "$TORCH"
  else
    "${pip[@]}" "$TORCH"
  fi
}
if [ "$mode" = latest ]; then
  only_torch=$(mktemp)
  trap 'rm -f "$only_torch"' EXIT
  echo "$TORCH" > "$only_torch"   # keeps the resolver on the CPU build while everything else moves to its newest
  "${pip[@]}" --upgrade pip >/dev/null 2>&1 || true
  install_torch
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
  install_torch
  "${pip[@]}" ${constraints[@]+"${constraints[@]}"} -e ".[dev]"
  echo "$want" > "$stamp"
fi
