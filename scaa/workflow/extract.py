"""Feature extraction for one shard.

Decode each clip once, apply the view, encode in length-sorted batches, and record every
clip that could not be used (never silently drop).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from scaa import featstore
from scaa.dsp import audio
from scaa.manifest import REJECT_COLUMNS
from scaa.encoders.build import build_encoder  # noqa: F401 (re-exported: the workflow builds encoders here)
from scaa.registry import VIEWS
from scaa.dsp.views import clip_rng

log = logging.getLogger("scaa.extract")
# at most this much (padded) audio per encoder call, so the progress bar moves every few
# seconds even for a slow encoder at 1 thread (the encoders' features do not depend on
# which clips share a batch: SSL models get attention masks, DistillMOS and resemblyzer
# encode each segment on its own)
PROGRESS_BATCH_SECONDS = 16.0


def parse_scatteritem(item: str) -> tuple[int, int]:
    """Snakemake's scatter item '3-of-8' -> (2, 8): a 0-based shard index and the count."""
    k, n = item.split("-of-")
    return int(k) - 1, int(n)


def shard_count(manifest_path, shard_size: int, splits=None) -> int:
    """How many shards hold ``shard_size`` clips at most (``features.shard_size``): the rows
    of the manifest in ``splits`` (all when None), divided up; at least one shard."""
    if int(shard_size) < 1:
        raise ValueError(f"shard_size must be >= 1, not {shard_size!r}")
    split = pd.read_parquet(manifest_path, columns=["split"])["split"]
    n = int(len(split) if splits is None else split.isin(list(splits)).sum())
    return max(1, -(-n // int(shard_size)))


def shard_rows(manifest: pd.DataFrame, shard: int, n_shards: int, splits=None) -> pd.DataFrame:
    """Rows for one shard. Clips are ranked by duration and dealt round-robin, so every
    shard gets a similar workload and, within a shard, neighbours have similar lengths."""
    m = manifest if splits is None else manifest[manifest["split"].isin(list(splits))]
    m = m.sort_values(["duration_s", "utt_id"], kind="mergesort").reset_index(drop=True)
    return m.iloc[shard::n_shards].reset_index(drop=True)


def batches(rows: pd.DataFrame, encoder) -> list[list[int]]:
    if getattr(encoder, "batch_seconds", 0) and len(rows) > 1:
        from scaa.batching import length_buckets

        lengths = (rows["duration_s"].to_numpy() * audio.SAMPLE_RATE).astype(np.int64)
        budget = min(float(encoder.batch_seconds), PROGRESS_BATCH_SECONDS)
        return length_buckets(lengths, int(budget * audio.SAMPLE_RATE))
    return [[i] for i in range(len(rows))]


def extract_shard(rows: pd.DataFrame, encoder, view_name: str, view, seed: int, out_path: str | Path,
                  skips_path: str | Path, trim_db: float | None = None, max_seconds: float | None = None,
                  progress: bool = True, min_seconds: float | None = audio.MIN_SECONDS) -> dict:
    """Encode ``rows`` and write the shard + its skip list. Returns counts and timing."""
    ids, feats, skips = [], [], []
    t0 = time.perf_counter()
    audio_s = 0.0
    bar = tqdm(total=len(rows), desc=f"{Path(out_path).parent.name}/{Path(out_path).name}", unit="clip",
               disable=not progress, mininterval=2.0)
    for batch in batches(rows, encoder):
        waves, uids = [], []
        for i in batch:
            row = rows.iloc[i]
            try:
                wave = audio.load(row["path"], trim_db=trim_db, max_seconds=max_seconds, min_seconds=min_seconds)
                wave = np.asarray(view(wave, clip_rng(seed, row["utt_id"], view_name)), dtype=np.float32)
                if not np.isfinite(wave).all():
                    raise audio.AudioError(row["path"], "non_finite", f"after view {view_name}")
            except audio.AudioError as err:
                skips.append(_skip(row, err.reason, err.detail))
                continue
            waves.append(wave)
            uids.append(row["utt_id"])
            audio_s += wave.size / audio.SAMPLE_RATE
        if waves:
            try:
                out = encoder.encode(waves)
            except Exception as err:  # one bad batch must not lose the shard: retry clip by clip
                log.warning("batch failed (%s); retrying one clip at a time", err)
                out = []
                for w, u in zip(waves, uids):
                    try:
                        out.append(encoder.encode([w])[0])
                    except Exception as err1:
                        out.append(None)
                        skips.append(_skip(rows[rows.utt_id == u].iloc[0], "encoder_error", str(err1)))
            for u, f in zip(uids, out):
                if f is None:
                    continue
                if not np.isfinite(f).all():
                    skips.append(_skip(rows[rows.utt_id == u].iloc[0], "non_finite_features"))
                    continue
                ids.append(u)
                feats.append(np.asarray(f, dtype=np.float32))
        bar.update(len(batch))
    bar.close()
    output = getattr(encoder, "output", "pooled")
    featstore.save(out_path, ids, feats, output)
    pd.DataFrame(skips, columns=list(REJECT_COLUMNS)).to_csv(skips_path, index=False)
    seconds = time.perf_counter() - t0
    return {"clips": len(rows), "encoded": len(ids), "skipped": len(skips), "seconds": round(seconds, 3),
            "audio_seconds": round(audio_s, 2), "rtf": round(seconds / audio_s, 5) if audio_s else None}


def _skip(row, reason: str, detail: str = "") -> dict:
    return {"utt_id": row["utt_id"], "path": row["path"], "split": row["split"], "reason": reason, "detail": detail}


def run(manifest_path, out_path, skips_path, encoder_spec, view_name, view_spec, freeze, scatteritem,
        seed, audio_cfg=None, threads=1, progress=True, splits=None) -> dict:
    """Entry point for the workflow script (one shard of one dataset/encoder/view/freeze)."""
    from scaa.manifest import read

    audio_cfg = audio_cfg or {}
    shard, n_shards = parse_scatteritem(scatteritem)
    manifest = read(manifest_path)
    rows = shard_rows(manifest, shard, n_shards, splits)
    encoder = build_encoder(encoder_spec, freeze)
    encoder.set_threads(threads)
    view = VIEWS.build(view_spec)
    if hasattr(view, "prepare"):  # e.g. a babble-noise condition draws its talkers from train clips
        view.prepare(manifest)
    return extract_shard(rows, encoder, view_name, view, seed, out_path, skips_path,
                         trim_db=audio_cfg.get("trim_db"), max_seconds=audio_cfg.get("max_seconds"),
                         min_seconds=audio_cfg.get("min_seconds", audio.MIN_SECONDS), progress=progress)
