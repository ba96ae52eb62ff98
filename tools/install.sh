#!/usr/bin/env bash
# Create or repair .venv with ftkit's pinned toolchain. Safe to re-run: a half-built venv (interrupted
# install, broken interpreter, missing package) is repaired or rebuilt; the stamp file is written last.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
STAMP=$VENV/.ftkit-installed
PYTHON=${PYTHON:-python3}
# torch and torchvision first: these exact releases lie on this machine's disk (CUDA build, runs on CPU);
# 2.13.0 (the CPU wheel) breaks torchvision's ops and so fastai.vision.
TORCH_PINS="torch==2.14.1 torchvision==0.29.1"

want=$(cat settings.ini setup.py tools/install.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$VENV/bin/python" -c "import ftkit" 2>/dev/null; then
  exit 0
fi

healthy() { "$VENV/bin/python" -c "import sys" >/dev/null 2>&1 && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }
verify() { "$VENV/bin/python" -c "import torch, torchvision.ops, fastai.vision.all, timm, nbdev, execnb.nbio, transformers, sklearn, ftkit" ; }

install() {
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q $TORCH_PINS
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e ".[dev]"
}

rm -f "$STAMP"
if [ -d "$VENV" ] && ! healthy; then
  echo "install: $VENV is broken (no working python/pip); rebuilding it from scratch"
  rm -rf "$VENV"
fi
[ -d "$VENV" ] || { echo "install: creating $VENV (about 2 minutes)"; "$PYTHON" -m venv "$VENV"; }
echo "install: installing pinned packages into $VENV"
if ! install || ! verify; then
  echo "install: the install did not complete cleanly; rebuilding $VENV from scratch once"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  install
  verify
fi
"$VENV/bin/python" -m pip check
echo "$want" > "$STAMP"
echo "install: $VENV ready ($(du -sh "$VENV" | cut -f1))"
