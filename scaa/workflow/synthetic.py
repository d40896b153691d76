"""Synthetic audio and a small trained cell: the timing input and the tests' and bench's fixture.

Both are made by the project's own code path. ``synthetic_clip`` (:mod:`scaa.dsp.synthesis`) is the timing input of
:mod:`scaa.workflow.benchmark` and the trace / check input of :mod:`scaa.inference.export` (for cost only its
length matters). ``synthetic_corpus`` and ``synthetic_run`` build a labelled corpus and
train one cell on it end to end: the shared fixture of the tests and of the ``bench/``
scripts, which is why it lives in the package (both import it without path tricks) rather
than under ``tests/``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scaa.dsp.audio import SAMPLE_RATE
from scaa.dsp.synthesis import synthetic_clip  # noqa: F401 (re-exported: the timing input, with the fixtures)


def synthetic_wave(label: int, rng: np.random.Generator, seconds: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Bona fide: harmonic tone with vibrato and breath noise. Spoof: steadier tone with a
    buzzy high band. Enough structure for a head to learn; not a realistic corpus."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = rng.uniform(100, 220) * (1 + (0.03 if label == 0 else 0.002) * np.sin(2 * np.pi * rng.uniform(4, 6) * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6))
    if label == 1:
        x = x + 0.05 * np.sign(np.sin(2 * np.pi * rng.uniform(3000, 5000) * t))
    x = x + rng.uniform(0.005, 0.03) * rng.standard_normal(t.size)
    return (x / np.abs(x).max() * 0.5).astype(np.float32)


def synthetic_corpus(root, n_per_split=(24, 16, 16), seconds=(1.0, 2.0), seed: int = 0) -> Path:
    """wav files + manifest.parquet under ``root`` (half bona fide, half spoof per split)."""
    import soundfile as sf

    from scaa import manifest

    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in zip(("train", "dev", "eval"), n_per_split):
        for i in range(n):
            label = i % 2
            dur = float(rng.uniform(*seconds))
            uid = f"{split}_{i:04d}"
            path = root / "wav" / f"{uid}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), synthetic_wave(label, rng, dur), SAMPLE_RATE)
            rows.append({"utt_id": uid, "path": str(path), "label": label, "split": split,
                         "speaker": f"spk{i % 4}", "attack": "-" if label == 0 else f"S{1 + i % 3}",
                         "duration_s": dur})
    out = root / "manifest.parquet"
    manifest.write(pd.DataFrame(rows), manifest.empty_rejects(), out, root / "manifest.rejects.csv")
    return out


def synthetic_run(root, encoder_spec: dict, head_spec: dict, loss_spec: dict | None = None, seed: int = 0,
                  n_per_split=(24, 16, 16), seconds=(1.0, 2.0), names: dict | None = None,
                  freeze: str = "frozen") -> tuple[Path, Path]:
    """Train one cell end to end on a synthetic corpus with the project's own code path.
    Returns (run_dir, manifest_path). The run dir has the layout of the workflow's."""
    from scaa.workflow import extract
    from scaa.plan.grid import run_dir_of
    from scaa.registry import VIEWS
    from scaa.workflow.scoring import score_dataset
    from scaa.workflow.train import train_cell

    root = Path(root)
    manifest_path = synthetic_corpus(root / "corpus", n_per_split, seconds, seed)
    rows = pd.read_parquet(manifest_path)
    encoder = extract.build_encoder(encoder_spec, freeze)
    shard = root / "features" / "shard1-of-1.npz"
    extract.extract_shard(rows, encoder, "none", VIEWS.build({"type": "none"}), seed, shard,
                          root / "features" / "shard1-of-1.skips.csv", progress=False)
    names = {"train_dataset": "synthetic", "encoder": encoder_spec["type"], "view": "none",
             "loss": (loss_spec or {"type": "ce"})["type"], "head": head_spec["type"], "freeze": freeze,
             "seed": seed, **(names or {})}
    run_dir = Path(run_dir_of(names, root=str(root / "runs")))
    spec = {"cell": names, "encoder": encoder_spec, "views": {"none": {"type": "none"}},
            "loss": loss_spec or {"type": "ce"}, "head": head_spec, "freeze": freeze, "seed": seed,
            "training": {"threads": 1}, "plugins": []}
    train_cell(spec, str(manifest_path), {"none": [str(shard)]}, run_dir)
    dev = run_dir / "dev_scores.parquet"
    if not dev.is_file() and (run_dir / "scores" / "dev.parquet").is_file():
        (run_dir / "scores" / "dev.parquet").replace(dev)  # the workflow's name for the dev scores
    score_dataset(spec, run_dir, str(manifest_path), [str(shard)], str(run_dir / "scores" / "synthetic.parquet"))
    return run_dir, manifest_path
