"""Error analysis of one cell on one eval set: which clips fooled it, and where it fails.

``errors.csv`` lists the most confident misses (spoofs scored furthest below the dev
threshold, lowest calibrated P(spoof)) and false alarms (bona fide clips furthest above
it), under clean audio and every condition. ``groups.csv`` holds the EER per attack
(each attack against all bona fide clips) and per speaker (where a speaker has clips of
both classes; otherwise that speaker's error rate at the dev threshold). Calibration and
threshold come from dev only, as in :mod:`scaa.workflow.evaluate`.

Each listed clip names the overlay file (spectrogram + per-window P(spoof) + band
occlusion) that the ``overlay_clip`` rule renders on demand.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from scaa import metrics
from scaa.calibration import fit as fit_calibrator
from scaa.plan.grid import RUNS_ROOT

ERROR_COLUMNS = ["cell", "eval_dataset", "condition", "kind", "rank", "utt_id", "label", "attack", "speaker",
                 "score", "p_spoof", "threshold", "margin", "overlay"]
GROUP_COLUMNS = ["cell", "eval_dataset", "condition", "group_kind", "group", "n_bonafide", "n_spoof", "eer",
                 "error_rate_at_threshold"]


def overlay_path(run_dir: str, eval_dataset: str, condition: str, utt_id: str) -> str:
    rel = str(run_dir).split(f"{RUNS_ROOT}/", 1)[-1]
    return f"results/overlays/{rel}/{eval_dataset}/{condition}/{utt_id}.html"


def _confident_errors(df: pd.DataFrame, thr: float, top_k: int) -> pd.DataFrame:
    miss = df[(df["label"] == 1) & (df["score"] < thr)].sort_values(["score", "utt_id"]).head(top_k)
    fa = df[(df["label"] == 0) & (df["score"] >= thr)].sort_values(["score", "utt_id"], ascending=[False, True])
    fa = fa.head(top_k)
    out = []
    for kind, part in (("miss", miss), ("false_alarm", fa)):
        part = part.assign(kind=kind, rank=np.arange(1, len(part) + 1))
        out.append(part)
    return pd.concat(out, ignore_index=True) if out else df.iloc[:0]


def group_eers(df: pd.DataFrame, thr: float) -> list[dict]:
    s, y = df["score"].to_numpy(np.float64), df["label"].to_numpy().astype(int)
    rows = []
    bona = y == 0
    attacks = df["attack"].astype(str).to_numpy()
    for a in sorted(set(attacks[y == 1])):
        sel = bona | ((y == 1) & (attacks == a))
        eer = metrics.eer(s[sel], y[sel]) if bona.any() else np.nan
        rows.append({"group_kind": "attack", "group": a, "n_bonafide": int(bona.sum()),
                     "n_spoof": int((sel & ~bona).sum()), "eer": eer,
                     "error_rate_at_threshold": float(np.mean(s[sel & ~bona] < thr))})
    speakers = df["speaker"].astype(str).to_numpy()
    for spk in sorted(set(speakers)):
        sel = speakers == spk
        ys, ss = y[sel], s[sel]
        both = (ys == 0).any() and (ys == 1).any()
        wrong = np.where(ys == 1, ss < thr, ss >= thr)
        rows.append({"group_kind": "speaker", "group": spk, "n_bonafide": int((ys == 0).sum()),
                     "n_spoof": int((ys == 1).sum()), "eer": metrics.eer(ss, ys) if both else np.nan,
                     "error_rate_at_threshold": float(wrong.mean())})
    return rows


def analyse(cell: str, run_dir: str, eval_dataset: str, dev: pd.DataFrame, scores: dict[str, pd.DataFrame],
            calibration: str = "platt", top_k: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(errors, groups) frames for one cell and eval set; ``scores`` maps condition -> scores."""
    s_dev, y_dev = dev["score"].to_numpy(np.float64), dev["label"].to_numpy().astype(int)
    cal = fit_calibrator(calibration, s_dev, y_dev)
    _, thr = metrics.eer_and_threshold(s_dev, y_dev)
    errs, groups = [], []
    for cond, df in scores.items():
        if not len(df):
            continue
        e = _confident_errors(df, thr, top_k)
        if len(e):
            e = e.assign(cell=cell, eval_dataset=eval_dataset, condition=cond, threshold=thr,
                         p_spoof=cal.apply(e["score"].to_numpy(np.float64)),
                         margin=(e["score"] - thr).abs(),
                         overlay=[overlay_path(run_dir, eval_dataset, cond, u) for u in e["utt_id"]])
            errs.append(e)
        for g in group_eers(df, thr):
            groups.append({"cell": cell, "eval_dataset": eval_dataset, "condition": cond, **g})
    errors = pd.concat(errs, ignore_index=True)[ERROR_COLUMNS] if errs else pd.DataFrame(columns=ERROR_COLUMNS)
    return errors, pd.DataFrame(groups, columns=GROUP_COLUMNS)


def run(cell: str, run_dir: str, eval_dataset: str, dev_path: str, clean_path: str, condition_paths: dict,
        errors_csv: str, groups_csv: str, calibration: str = "platt", top_k: int = 10) -> int:
    scores = {"clean": pd.read_parquet(clean_path)}
    scores.update({c: pd.read_parquet(p) for c, p in sorted(condition_paths.items())})
    errors, groups = analyse(cell, run_dir, eval_dataset, pd.read_parquet(dev_path), scores, calibration, top_k)
    Path(errors_csv).parent.mkdir(parents=True, exist_ok=True)
    errors.to_csv(errors_csv, index=False)
    groups.to_csv(groups_csv, index=False)
    return len(errors)


def render_overlay(run_dir: str, manifest_path: str, utt_id: str, condition: str, condition_spec: dict | None,
                   seed: int, out_html: str, window_s: float = 4.0, hop_s: float = 2.0, allow_plugins=()) -> dict:
    """The overlay of one listed clip, under the same degraded audio the cell was scored on."""
    import soundfile as sf

    from scaa.dsp import audio
    from scaa.dsp.conditions import ConditionView, view_name
    from scaa.inference.detector import Detector
    from scaa.manifest import read
    from scaa.inference.overlay import overlay
    from scaa.dsp.views import clip_rng

    manifest = read(manifest_path)
    row = manifest[manifest["utt_id"] == utt_id]
    if not len(row):
        raise KeyError(f"{utt_id!r} is not in {manifest_path}")
    path = row.iloc[0]["path"]
    prefix = Path(out_html).with_suffix("")
    detector = Detector.from_run(run_dir, allow_plugins=allow_plugins)  # the workflow's own plugins
    if condition == "clean":
        return overlay(detector, path, prefix, window_s, hop_s)
    view = ConditionView(condition_spec)
    view.prepare(manifest)
    wave = view(audio.load(path), clip_rng(seed, utt_id, view_name(condition)))
    with tempfile.TemporaryDirectory() as tmp:
        degraded = Path(tmp) / f"{utt_id}.{condition}.wav"
        sf.write(degraded, wave, audio.SAMPLE_RATE, subtype="FLOAT")
        return overlay(detector, degraded, prefix, window_s, hop_s)
