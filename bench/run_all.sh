#!/usr/bin/env bash
# Run every benchmark one after another (they time wall-clock: run on an idle machine)
# and keep their outputs under bench/results/. Takes about 45 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
mkdir -p bench/results
lscpu > bench/results/lscpu.txt
python bench/bench_features.py --out bench/results/features.json | tee bench/results/features.md
python bench/bench_train.py | tee bench/results/train.md
python bench/bench_train.py --patience 1000 | tee bench/results/train_all_epochs.md
python bench/bench_detect.py --out bench/results/detect.json | tee bench/results/detect.md
python bench/bench_whisper.py --out bench/results/whisper.json | tee bench/results/whisper.md
python bench/profile_ssl.py | tee bench/results/profile_ssl.md
python bench/bench_bootstrap.py | tee bench/results/bootstrap.md
# AASIST against the authors' implementation: needs a clone of clovaai/aasist (AASIST_REPO=DIR)
if [[ -n "${AASIST_REPO:-}" ]]; then
    python bench/bench_aasist.py --reference-repo "$AASIST_REPO" --out bench/results/aasist_speed.json \
        --md bench/results/aasist_speed.md --calls 3 --n-parity 24
    { python bench/profile_aasist.py --variant aasist; echo; python bench/profile_aasist.py --variant aasist_l; } \
        > bench/results/aasist_profile.md
fi
python bench/bench_bootstrap.py --ties | tee bench/results/bootstrap_ties.md
# CNN training (before and after side by side) and scaa detect --jobs
python bench/bench_cnn_train.py --baseline-rev c1912bf --epochs 3 --seeds 0 1 --heads lcnn --precision float32 bfloat16 \
    --parallel 2 --out bench/results/cnn_train_lcnn.json | tee bench/results/cnn_train_lcnn.md
python bench/bench_cnn_train.py --baseline-rev c1912bf --epochs 4 --seeds 0 1 2 3 --heads attn --precision float32 bfloat16 \
    --parallel 2 --out bench/results/cnn_train_attn.json | tee bench/results/cnn_train_attn.md
: > bench/results/detect_jobs.md
for args in "--files 200 --only distillmos" "--files 694 --only spectral --rounds 5 --one-file 9 --baseline-rev 1daa69e" \
            "--files 694 --repeat 8 --only spectral --rounds 5 --baseline-rev 1daa69e"; do
    python bench/bench_detect_jobs.py $args --jobs 2 | tee -a bench/results/detect_jobs.md
done
python bench/bench_distillmos_crop.py --n-train 150 --n-eval 150 --out bench/results/distillmos_crop.json \
    | tee bench/results/distillmos_crop.md
python bench/bench_onnx.py --out bench/results/onnx.json | tee bench/results/onnx.md
# needs a trained model: the `scaa detect` default (run `snakemake --cores all` first)
python bench/bench_serve.py --out bench/results/serve.json | tee bench/results/serve.md
# scaa serve against 20 stalled uploads, 20 concurrent 2-hour uploads, a decode bomb per container family and a
# 300 s overlay beside 4 detect clients; peak RSS per case (about 1.5 minutes; trains its own small cell)
python bench/bench_serve_faults.py --out bench/results/serve_faults.json | tee bench/results/serve_faults.md
python bench/bench_conditions.py --out bench/results/conditions.json | tee bench/results/conditions.md
# the whole demo workflow, c1912bf against this commit (about 10 minutes)
python bench/bench_workflow.py --baseline-rev c1912bf --out bench/results/workflow.json | tee bench/results/workflow.md
# the demo workflow with its channel conditions, and the study config's spectral cells (all
# 19 conditions, both eval sets), 817b041 (one job per condition) against this commit
python bench/bench_workflow.py --baseline-rev 817b041 --config config/config.yaml \
    --out bench/results/workflow_demo.json | tee bench/results/workflow_demo.md
python bench/bench_workflow.py --baseline-rev 817b041 --config config/asvspoof2019_la.yaml \
    --config bench/configs/study_spectral_only.yaml --out bench/results/workflow_study_spectral.json \
    | tee bench/results/workflow_study_spectral.md
# AASIST / AASIST-L at 1 thread: the authors' implementation against ours (float32 fast and reference forward,
# bf16, int8) and the score differences on 40 scaa-dev eval clips (about 5 minutes). Needs a clone of the authors'
# code (`git clone https://github.com/clovaai/aasist`, MIT; not part of SCAA) in $AASIST_REPO, and the pinned weights
python bench/bench_aasist.py --reference-repo "${AASIST_REPO:?set AASIST_REPO to a clone of https://github.com/clovaai/aasist}" \
    --out bench/results/aasist_speed.json | tee bench/results/aasist_speed.md
