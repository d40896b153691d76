"""Per-epoch training speed and dev EER of the frame-level CNN heads (lcnn, attn).

Data: frame-level LFCC (20 + deltas, 10 ms hop; the ``lfcc_frames`` encoder of the study
config) of a corpus in the ASVspoof 2019 LA layout, train and dev splits. The features
are computed once and cached (``--cache``, an .npz: arrays only, no pickle).

The same measurement runs on two code trees: this checkout ("after") and, with
``--baseline-rev REV``, the ``scaa`` package of git revision REV exported to a temporary
folder ("before"), each in a fresh subprocess at the same thread count, seed and
settings, once per ``--seeds`` value (``--parallel N`` runs N of these one-thread
processes at a time: they are measured in CPU time, and before and after then share the
same load). Each reports clips/s per epoch (train clips / epoch seconds; an epoch's seconds
include its dev scoring), mean epoch seconds, epochs run and the best dev EER. The means
leave out epoch 1, which also pays the set-up (standardisation, lazy imports, first-use
kernel builds), whenever more than one epoch ran. Epoch time is given twice: wall clock,
and the process's CPU time (``time.process_time``), which a machine shared with other jobs
distorts less; the speed-up is computed from CPU time.

    python bench/bench_cnn_train.py --root ../shared/corpora/scaa-dev --baseline-rev c1912bf \
        --epochs 4 --seeds 0 1 2 3 --heads attn --precision float32 bfloat16 --parallel 2 \
        --out bench/results/cnn_train_attn.json | tee bench/results/cnn_train_attn.md
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def build_cache(root: str, cache: Path) -> None:
    """LFCC frames of the train and dev splits into one .npz (utt ids, labels, splits, frames)."""
    from scaa.dsp import audio
    from scaa.datasets.asvspoof import ASVspoof2019LA
    from scaa.encoders.spectral import SpectralEncoder

    manifest, _ = ASVspoof2019LA(root=root, splits=("train", "dev")).build()
    enc = SpectralEncoder(output="frames")
    ids, labels, splits, frames = [], [], [], []
    for row in manifest.itertuples():
        try:
            wave = audio.load(row.path, max_seconds=600)
        except audio.AudioError as err:
            print(f"skip {row.utt_id}: {err.reason}", file=sys.stderr)
            continue
        ids.append(row.utt_id)
        labels.append(int(row.label))
        splits.append(row.split)
        frames.append(enc.encode_one(wave).astype(np.float16))
    lengths = np.array([len(f) for f in frames])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, utt_id=np.array(ids), label=np.array(labels), split=np.array(splits),
             frames=np.concatenate(frames), offsets=np.concatenate([[0], np.cumsum(lengths)]))


def load_cache(cache: Path):
    from scaa.featstore import Features

    with np.load(cache, allow_pickle=False) as z:
        ids, y, split, data, off = z["utt_id"], z["label"], z["split"], z["frames"], z["offsets"]
    frames = [data[off[i]:off[i + 1]] for i in range(len(off) - 1)]
    out = {}
    for s in ("train", "dev"):
        idx = np.flatnonzero(split == s)
        out[s] = Features(ids[idx], [frames[i] for i in idx], output="frames", y=y[idx].astype(np.int64))
    return out


def measure(cache: Path, head: str, epochs: int, threads: int, seed: int, precision: str | None) -> dict:
    """One head on this process's ``scaa``: per-epoch seconds and the best dev EER."""
    import torch

    torch.set_num_threads(threads)
    from scaa.registry import HEADS, RegistryError

    data = load_cache(cache)
    spec = {"type": head, "epochs": epochs, "patience": 1000}
    if precision is not None:
        spec["train_precision"] = precision
    try:  # the estimator API: loss and seed are hyper-parameters
        model = HEADS.build({**spec, "loss": "ce", "random_state": seed})

        def fit(log):
            model.fit(data["train"], dev=data["dev"], log=log)
    except RegistryError:  # a tree from before it (e.g. c1912bf): they are arguments of fit
        model = HEADS.build(spec)

        def fit(log):
            model.fit(data["train"], data["dev"], loss="ce", seed=seed, log=log)
    rows: list[dict] = []
    cpu = [time.process_time()]

    def log(row):  # called once at the end of every epoch
        cpu.append(time.process_time())
        rows.append(row)

    t0 = time.perf_counter()
    fit(log)
    wall = time.perf_counter() - t0
    secs = [r["seconds"] for r in rows]
    cpu_secs = list(np.diff(cpu))
    steady = slice(1, None) if len(rows) > 1 else slice(None)  # epoch 1 also pays the set-up
    n = len(data["train"])
    return {"head": head, "train_clips": n, "dev_clips": len(data["dev"]), "threads": threads,
            "epochs": len(rows), "epoch_seconds": secs, "mean_epoch_s": float(np.mean(secs[steady])),
            "epoch_cpu_seconds": cpu_secs, "mean_epoch_cpu_s": float(np.mean(cpu_secs[steady])),
            "clips_per_cpu_s": n / float(np.mean(cpu_secs[steady])),
            "train_precision": getattr(model, "train_precision_", None) or "float32",
            "clips_per_s": n / float(np.mean(secs[steady])), "dev_eer_per_epoch": [r["dev_eer"] for r in rows],
            "best_dev_eer": float(np.nanmin([r["dev_eer"] for r in rows])), "wall_s": wall}


def run_tree(pythonpath: str, args, head: str, precision: str | None, seed: int) -> dict:
    cmd = [sys.executable, __file__, "--measure", head, "--cache", str(args.cache), "--epochs", str(args.epochs),
           "--threads", str(args.threads), "--seed", str(seed)] + (["--precision", precision] if precision else [])
    env = {**os.environ, "PYTHONPATH": pythonpath, "OMP_NUM_THREADS": str(args.threads)}
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(REPO.parent / "shared/corpora/scaa-dev"))
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "scaa-bench-lfcc-frames.npz")
    p.add_argument("--heads", nargs="+", default=["lcnn", "attn"])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--parallel", type=int, default=1, help="measurement processes at a time (each one thread)")
    p.add_argument("--precision", nargs="+", default=[None],
                   help="train_precision values to measure the 'after' code with (default: the head's own)")
    p.add_argument("--baseline-rev", help="git revision whose scaa/ is the 'before' measurement")
    p.add_argument("--out", help="write all figures as JSON here")
    p.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one head, this process, JSON out
    args = p.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.cache, args.measure, args.epochs, args.threads, args.seeds[0], args.precision[0])))
        return 0
    if not args.cache.exists():
        build_cache(args.root, args.cache)
    trees = [("after", str(REPO), prec) for prec in args.precision]
    tmp = tempfile.TemporaryDirectory()
    if args.baseline_rev:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline_rev, "scaa"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp.name], input=archive, check=True)
        trees.insert(0, (f"before ({args.baseline_rev})", tmp.name, None))
    # one seed's trees next to each other, so that with --parallel they run under the same load
    jobs = [(head, label, path, prec, seed) for head in args.heads for seed in args.seeds for label, path, prec in trees]

    def one(job):
        head, label, path, prec, seed = job
        try:
            return {**run_tree(path, args, head, prec, seed), "code": label, "seed": seed}
        except subprocess.CalledProcessError as err:  # e.g. killed for memory: report it, keep the others
            print(f"{head} {label} {prec or ''} seed {seed} failed: exit {err.returncode}", file=sys.stderr)
            return None

    with concurrent.futures.ThreadPoolExecutor(max(1, args.parallel)) as pool:
        results = [r for r in pool.map(one, jobs) if r is not None]
    tmp.cleanup()
    if not results:
        return 1
    seeds = ",".join(map(str, args.seeds))
    print(f"frame-level LFCC of {args.root}: {results[0]['train_clips']} train / {results[0]['dev_clips']} dev clips, "
          f"{args.epochs} epochs, batch 32, ce, seed(s) {seeds}, {args.threads} thread(s)\n")
    print("| head | code | precision | seed | epoch CPU s | clips per CPU s | speed-up (CPU) | epoch wall s | "
          "best dev EER | dev EER per epoch |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {}
    for r in results:  # speed-up against the first code tree of the same head and seed
        b = base.setdefault((r["head"], r["seed"]), r["mean_epoch_cpu_s"])
        eers = " ".join(f"{e:.4f}" for e in r["dev_eer_per_epoch"])
        print(f"| {r['head']} | {r['code']} | {r['train_precision']} | {r['seed']} | {r['mean_epoch_cpu_s']:.1f} | "
              f"{r['clips_per_cpu_s']:.0f} | {b / r['mean_epoch_cpu_s']:.2f}x | "
              f"{r['mean_epoch_s']:.1f} | {r['best_dev_eer']:.4f} | {eers} |")
    if len(args.seeds) > 1:
        print("\nMean over seeds:\n")
        print("| head | code | precision | epoch CPU s | speed-up (CPU) | best dev EER (mean, per seed) |")
        print("|---|---|---|---|---|---|")
        groups: dict = {}
        for r in results:
            groups.setdefault((r["head"], r["code"], r["train_precision"]), []).append(r)
        first: dict = {}
        for (head, code, prec), rs in groups.items():
            cpu = float(np.mean([r["mean_epoch_cpu_s"] for r in rs]))
            b = first.setdefault(head, cpu)
            eers = [r["best_dev_eer"] for r in rs]
            print(f"| {head} | {code} | {prec} | {cpu:.1f} | {b / cpu:.2f}x | {np.mean(eers):.4f} "
                  f"({' '.join(f'{e:.4f}' for e in eers)}) |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
