#!/usr/bin/env bash
# Execute notebooks in place so their stored outputs (which the docs show) are fresh, then clean them.
# Usage: tools/run_nbs.sh nbs/00_core.ipynb [more.ipynb ...]   (cells flagged slow/gpu are skipped, as in nbdev_test)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore::FutureWarning} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
[ -n "${FTKIT_DATA:-}" ] || { [ -d ../shared/data ] && export FTKIT_DATA=$(cd ../shared/data && pwd); }
for nb in "$@"; do
  echo "run_nbs: $nb"
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} $bin/python tools/execute_nb.py "$nb"
done
for nb in "$@"; do $bin/nbdev_clean --fname "$nb"; done
