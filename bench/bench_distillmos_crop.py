"""What running short clips at their own length costs DistillMOS in EER, and what it saves.

DistillMOS pads every clip shorter than 7.68 s to 7.68 s (``pad_short: true``, the model's
own behaviour); ``pad_short: false`` runs it at its own length. This script encodes the
same clips both ways, trains the same head (logreg, the study's baseline) on each, and
reports the eval EER of both, the paired-bootstrap ΔEER (own length minus padded, 95% CI,
same resamples) and the encoder CPU seconds per clip.

Clips: a seeded, class-stratified sample of ``--n-train`` train and ``--n-eval`` eval
clips of a corpus in the ASVspoof 2019 LA layout (DistillMOS runs near 0.2x real time on
one core, so the whole corpus twice is an hour-long job; raise the counts on a free
machine). Run:

    python bench/bench_distillmos_crop.py --root ../shared/corpora/scaa-dev --n-train 300 --n-eval 300
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def sample(manifest: pd.DataFrame, split: str, n: int, seed: int) -> pd.DataFrame:
    rows = manifest[manifest["split"] == split]
    frac = min(1.0, n / max(len(rows), 1))
    parts = [g.sample(frac=frac, random_state=seed) for _, g in rows.groupby("label")]
    return pd.concat(parts).sort_values("utt_id").reset_index(drop=True)


def encode(rows: pd.DataFrame, pad_short: bool) -> tuple[np.ndarray, float]:
    """Pooled features of every clip, and encoder CPU seconds per clip."""
    from scaa.dsp import audio
    from scaa.registry import ENCODERS

    import scaa.encoders  # noqa: F401  (registers the encoders)

    enc = ENCODERS.build({"type": "distillmos", "pad_short": pad_short})
    enc.set_threads(1)
    feats, cpu = [], 0.0
    for path in rows["path"]:
        wave = audio.load(path, max_seconds=600)
        t0 = time.process_time()
        feats.append(enc.encode([wave])[0])
        cpu += time.process_time() - t0
    return np.stack(feats), cpu / len(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(REPO.parent / "shared/corpora/scaa-dev"))
    p.add_argument("--n-train", type=int, default=300)
    p.add_argument("--n-eval", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from scaa.datasets.asvspoof import ASVspoof2019LA
    from scaa.workflow.evaluate import paired_comparison
    from scaa.heads.logreg import LogRegHead
    from scaa import metrics

    manifest, _ = ASVspoof2019LA(root=args.root, splits=("train", "eval")).build()
    train, ev = sample(manifest, "train", args.n_train, args.seed), sample(manifest, "eval", args.n_eval, args.seed)
    res, scores = {}, {}
    for name, pad in (("padded to 7.68 s", True), ("own length", False)):
        Xtr, cpu_tr = encode(train, pad)
        Xev, cpu_ev = encode(ev, pad)
        head = LogRegHead(random_state=args.seed).fit(Xtr, train["label"].to_numpy())
        s = head.decision_function(Xev)
        scores[name] = ev.assign(score=s)[["utt_id", "label", "speaker", "attack", "score"]]
        res[name] = {"eval_eer": metrics.eer(s, ev["label"].to_numpy()),
                     "cpu_s_per_clip": (cpu_tr * len(train) + cpu_ev * len(ev)) / (len(train) + len(ev))}
    d = paired_comparison(scores["own length"], scores["padded to 7.68 s"], n_boot=args.n_boot, seed=args.seed)
    de = d["metrics"]["eer"]
    dur = pd.concat([train, ev])["duration_s"]
    print(f"DistillMOS + logreg on {args.root}: {len(train)} train / {len(ev)} eval clips (seeded stratified "
          f"sample, seed {args.seed}); clip length median {dur.median():.2f} s, max {dur.max():.2f} s; 1 thread\n")
    print("| short clips | eval EER | encoder CPU s per clip |")
    print("|---|---|---|")
    for name, r in res.items():
        print(f"| {name} | {r['eval_eer']:.4f} | {r['cpu_s_per_clip']:.3f} |")
    print(f"\nΔEER (own length − padded) {de['diff']:+.4f}, 95% paired-bootstrap CI [{de['ci_low']:+.4f}, "
          f"{de['ci_high']:+.4f}] ({args.n_boot} resamples); encoder time ×"
          f"{res['own length']['cpu_s_per_clip'] / res['padded to 7.68 s']['cpu_s_per_clip']:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"settings": vars(args), "results": res, "delta_eer": de}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
