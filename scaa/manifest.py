"""The manifest: one row per clip, the only thing downstream stages know about a dataset.

Label convention lives here and only here: 0 = bona fide, 1 = spoof; scores are
"higher = more likely spoof".
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

BONAFIDE = 0
SPOOF = 1
LABEL_NAMES = {BONAFIDE: "bonafide", SPOOF: "spoof"}
SPLITS = ("train", "dev", "eval")
COLUMNS = ("utt_id", "path", "label", "split", "speaker", "attack", "duration_s")
# reason: a short stable code (missing, too_short, not_utf8, ...); detail: the specifics
REJECT_COLUMNS = ("utt_id", "path", "split", "reason", "detail")


class ManifestError(ValueError):
    """A manifest that breaks the schema (the message says which rows)."""


def validate(df: pd.DataFrame) -> pd.DataFrame:
    """Check the schema and return the frame with canonical dtypes and column order."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(f"manifest lacks columns {missing}")
    df = df.loc[:, list(COLUMNS)].copy()
    dup = df["utt_id"][df["utt_id"].duplicated()]
    if len(dup):
        raise ManifestError(f"duplicate utt_id(s): {sorted(set(dup))[:5]}")
    bad_label = ~df["label"].isin([BONAFIDE, SPOOF])
    if bad_label.any():
        raise ManifestError(f"labels must be 0/1; bad rows: {df.index[bad_label].tolist()[:5]}")
    bad_split = ~df["split"].isin(SPLITS)
    if bad_split.any():
        raise ManifestError(f"split must be one of {SPLITS}; got {sorted(set(df['split'][bad_split]))}")
    if (df["duration_s"].isna() | (df["duration_s"] <= 0)).any():
        raise ManifestError("duration_s must be positive for every kept clip")
    df["label"] = df["label"].astype("int8")
    df["duration_s"] = df["duration_s"].astype("float64")
    for col in ("utt_id", "path", "split", "speaker", "attack"):
        df[col] = df[col].astype(str)
    return df.reset_index(drop=True)


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=str) for c in REJECT_COLUMNS})


def write(df: pd.DataFrame, rejects: pd.DataFrame, path: str | Path, rejects_path: str | Path) -> None:
    validate(df).to_parquet(path, index=False)
    rejects = rejects if len(rejects) else empty_rejects()
    rejects = rejects.reindex(columns=list(REJECT_COLUMNS)).fillna("")
    rejects.to_csv(rejects_path, index=False)


def read(path: str | Path) -> pd.DataFrame:
    return validate(pd.read_parquet(path))
