#!/usr/bin/env bash
# Run every benchmark one after another (they time wall-clock: run on an idle machine)
# and keep their outputs under bench/results/. Takes about 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
mkdir -p bench/results
lscpu > bench/results/lscpu.txt
python bench/bench_features.py --out bench/results/features.json | tee bench/results/features.md
python bench/bench_train.py | tee bench/results/train.md
python bench/bench_train.py --patience 1000 | tee bench/results/train_all_epochs.md
python bench/bench_detect.py --out bench/results/detect.json | tee bench/results/detect.md
python bench/profile_ssl.py | tee bench/results/profile_ssl.md
python bench/bench_bootstrap.py | tee bench/results/bootstrap.md
python bench/bench_bootstrap.py --ties | tee bench/results/bootstrap_ties.md
python bench/bench_conditions.py --out bench/results/conditions.json | tee bench/results/conditions.md
