"""Train one ablation cell and score clips with it.

Dev is used for early stopping / model selection only; eval is never touched here
except to write its scores once (scaa.workflow.evaluate computes metrics from those files).
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from scaa import featstore, modeldir
from scaa.manifest import read as read_manifest
from scaa.heads.build import build_head  # noqa: F401 (re-exported: the workflow builds heads here)
from scaa.registry import load_plugins, module_list
from scaa.threads import limit_threads

SCORE_COLUMNS = ["utt_id", "split", "label", "attack", "speaker", "score"]


def features_for(rows: pd.DataFrame, shards: list[str]) -> tuple[featstore.Features, pd.DataFrame]:
    """Features for the rows that have them (skipped clips were recorded at extraction)."""
    feats = featstore.load(shards)
    have = set(feats.utt_id.tolist())
    rows = rows[rows["utt_id"].isin(have)].reset_index(drop=True)
    out = featstore.align(feats, rows["utt_id"].tolist())
    out.y = rows["label"].to_numpy().astype(np.int64)
    return out, rows


def _add_generated(train: featstore.Features, train_rows: pd.DataFrame, manifest: pd.DataFrame, name: str,
                   shards: list[str]) -> tuple[featstore.Features, pd.DataFrame, int]:
    """Append generator ``name``'s spoof rows (scaa.workflow.resynth) to the training set."""
    from scaa.workflow import resynth

    if train.meta.get("views"):
        raise ValueError("vocoded spoofs have no augmented views; use view set 'none' with resynth")
    feats, rows = features_for(resynth.generated_rows(manifest, name), shards)
    if train.output == "pooled":
        X = np.concatenate([np.asarray(train.X), np.asarray(feats.X)]) if len(feats) else train.X
    else:
        X = list(train.X) + list(feats.X)
    merged = featstore.Features(np.concatenate([train.utt_id, feats.utt_id]), X, train.output,
                                np.concatenate([train.y, feats.y]), {})
    return merged, pd.concat([train_rows, rows], ignore_index=True), int(len(feats))


def _train_views(train_rows: pd.DataFrame, shards: dict[str, list[str]],
                 views: list[str]) -> tuple[featstore.Features, pd.DataFrame]:
    """The train split's features in the anchor view, every other view aligned to it in
    ``meta["views"]``; a clip whose augmented view failed is dropped from every view."""
    train, train_rows = features_for(train_rows, shards[views[0]])
    extra = {}
    for v in views[1:]:
        other = featstore.load(shards[v])
        keep = np.isin(train.utt_id, other.utt_id)
        if not keep.all():
            train, train_rows = train.subset(np.flatnonzero(keep)), train_rows[keep].reset_index(drop=True)
        extra[v] = featstore.align(other, train.utt_id.tolist())
        extra[v].y = train.y
    if extra:
        train.meta["views"] = extra
    return train, train_rows


def union_data(union: dict, manifest_paths, shards: dict[str, dict[str, list[str]]], views: list[str],
                seed: int) -> tuple[featstore.Features, pd.DataFrame, featstore.Features, pd.DataFrame, dict]:
    """Train and dev sets of a training set (:mod:`scaa.plan.training_sets`): the train splits of
    its corpora, balanced as it says, and the dev splits of its selection corpora. Clip ids
    become ``<corpus>/<utt_id>`` (two corpora may share an id). Returns per-corpus counts."""
    paths = [manifest_paths] if isinstance(manifest_paths, (str, Path)) else list(manifest_paths)
    manifests = {Path(p).name.split(".")[0]: p for p in paths}
    rng = np.random.default_rng(seed)
    trains, devs, counts = [], [], {}
    largest = 0
    for corpus in union["corpora"]:
        manifest = read_manifest(manifests[corpus])
        feats, rows = _train_views(manifest[manifest["split"] == "train"], shards[corpus], views)
        if not len(feats):
            raise ValueError(f"training set corpus {corpus} has no train clips with features "
                             "(an eval-only corpus? give its dataset split_fractions, or list it under dev only)")
        trains.append((corpus, feats, rows))
        largest = max(largest, len(feats))
    balanced = []
    for corpus, feats, rows in trains:
        n = len(feats)
        idx = np.arange(n)
        if union.get("balance") == "corpus" and n < largest:  # repeat, then a seeded draw for the rest
            idx = np.concatenate([np.tile(idx, largest // n), np.sort(rng.choice(n, largest % n, replace=False))])
        counts[corpus] = {"train": int(n), "train_used": int(len(idx)),
                          "train_bonafide": int((feats.y == 0).sum()), "train_spoof": int((feats.y == 1).sum())}
        if len(idx) != n:
            feats, rows = _subset_views(feats, idx), rows.iloc[idx].reset_index(drop=True)
        balanced.append((corpus, feats, rows))
    for corpus in union["dev"]:
        manifest = read_manifest(manifests[corpus])
        feats, rows = features_for(manifest[manifest["split"] == "dev"], shards[corpus]["none"])
        if not len(feats):
            raise ValueError(f"training set selection corpus {corpus} has no dev clips with features")
        devs.append((corpus, feats, rows))
        counts.setdefault(corpus, {"train": 0, "train_used": 0})
        counts[corpus].update({"dev": int(len(feats)), "dev_bonafide": int((feats.y == 0).sum()),
                               "dev_spoof": int((feats.y == 1).sum())})
    train, train_rows = _join(balanced)
    dev, dev_rows = _join(devs)
    return train, train_rows, dev, dev_rows, counts


def _subset_views(feats: featstore.Features, idx: np.ndarray) -> featstore.Features:
    """``feats.subset(idx)`` with its augmented views (``meta["views"]``) subset alike."""
    out = feats.subset(idx)
    views = (feats.meta or {}).get("views")
    if views:
        out.meta["views"] = {v: f.subset(idx) for v, f in views.items()}
    return out


def _join(parts: list[tuple[str, featstore.Features, pd.DataFrame]]) -> tuple[featstore.Features, pd.DataFrame]:
    """One feature set (and row table) from per-corpus ones, ids prefixed with the corpus name."""
    sets, tables = [], []
    for corpus, feats, rows in parts:
        ids = np.asarray([f"{corpus}/{u}" for u in feats.utt_id.tolist()], dtype=str)
        renamed = featstore.Features(ids, feats.X, feats.output, feats.y, {})
        views = (feats.meta or {}).get("views") or {}
        if views:
            renamed.meta["views"] = {v: featstore.Features(ids, f.X, f.output, f.y, {}) for v, f in views.items()}
        sets.append(renamed)
        tables.append(rows.assign(utt_id=ids))
    return featstore.concat(sets), pd.concat(tables, ignore_index=True)


def train_cell(spec: dict, manifest_path: str, shards: dict[str, list[str]], run_dir: str | Path,
               threads: int = 1, plugins: list[str] | None = None) -> dict:
    """``shards`` maps view name -> feature shard paths of the training dataset.
    The view ``none`` must be present (dev is always scored on unaugmented audio).
    A cell trained on a training set (``spec["training_set"]``) takes each member
    corpus' manifest (``manifest_path``: a list) and ``shards`` by corpus, then view."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    plugins = module_list(plugins if plugins is not None else spec.get("plugins"))  # a string is refused
    load_plugins(plugins)
    seed = int(spec["seed"])
    limit_threads(threads)
    views = list(spec["views"])
    generated, corpora = {}, None
    if spec.get("training_set"):
        train, train_rows, dev, dev_rows, corpora = union_data(spec["training_set"], manifest_path, shards,
                                                                views, seed)
    else:
        manifest = read_manifest(manifest_path)
        train, train_rows = _train_views(manifest[manifest["split"] == "train"], shards, views)
        for name in spec.get("resynth") or {}:  # vocoded spoofs: extra spoof rows, train only
            train, train_rows, generated[name] = _add_generated(train, train_rows, manifest, name,
                                                                shards[f"resynth:{name}"])
        dev, dev_rows = features_for(manifest[manifest["split"] == "dev"], shards["none"])
    if len(np.unique(train.y)) < 2 or len(np.unique(dev.y)) < 2:
        raise ValueError(f"{spec['cell']}: train and dev must each hold both classes "
                         f"(train {np.bincount(train.y, minlength=2)}, dev {np.bincount(dev.y, minlength=2)})")

    head = build_head(spec)
    # the cell's seed drives the fit; a head with a ``loss`` parameter (the torch heads)
    # trains with the cell's loss, the others have a fixed objective (the grid pairs them
    # with ce only)
    cell_params = {"random_state": seed}
    if "loss" in head.get_params(deep=False):
        cell_params["loss"] = dict(spec["loss"])
    head.set_params(**cell_params)
    log_rows: list[dict] = []
    t0 = time.perf_counter()
    head.fit(train, dev=dev, log=log_rows.append)
    train_seconds = time.perf_counter() - t0
    head.save(run_dir)

    dev_scores = score_rows(head, dev, dev_rows)
    dev_scores.to_parquet(run_dir / "dev_scores.parquet", index=False)
    _write_log(run_dir / "train_log.csv", log_rows)
    info = {"train_clips": int(len(train)), "dev_clips": int(len(dev)), "train_seconds": round(train_seconds, 3),
            "parameters": head.n_parameters(), "views": views}
    if generated:
        info["generated"] = generated
    if corpora:
        info["corpora"] = corpora
    # the plugins are recorded with the model: `scaa detect` names them and imports them
    # only when the user allows it (a model directory never imports code by itself)
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump({**spec, "plugins": plugins, "training_info": info}, sort_keys=False))
    modeldir.seal(run_dir)
    return info


def score_rows(head, feats: featstore.Features, rows: pd.DataFrame) -> pd.DataFrame:
    scores = np.asarray(head.decision_function(feats.X), dtype=np.float64)
    if not np.isfinite(scores).all():
        raise ValueError(f"head produced {int((~np.isfinite(scores)).sum())} non-finite scores")
    out = rows.loc[:, ["utt_id", "split", "label", "attack", "speaker"]].copy()
    out["score"] = scores
    return out.loc[:, SCORE_COLUMNS]


def _write_log(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys or ["note"])
        w.writeheader()
        for r in rows:
            w.writerow({k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()})

