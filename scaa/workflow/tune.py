"""Hyper-parameter search for the ``mlp`` head with Optuna, on cached features.

One study tunes hidden sizes, depth, dropout, learning rate, weight decay and — when
the loss is contrastive (has a ``weight``) — the contrastive λ, for one (dataset,
encoder, view set). The objective is the best **dev** EER of a training run (eval is
never read); a MedianPruner stops trials whose per-epoch dev EER lags the median.
A seeded TPE sampler and one training seed make a single-worker study reproducible.

Storage is any SQLAlchemy URL (default ``sqlite:///results/tune/{study}.db``); with a
PostgreSQL URL several workers (processes, cluster jobs) share one study, capped at
``n_trials`` finished trials in total. Worker k samples with seed + k, so a multi-worker
study is not bit-reproducible. The storage-side study name carries a hash of the study
spec, so editing the spec starts a fresh study instead of mixing trials.

Results: ``best_head.yaml`` (``{type: mlp, ...}``), ``best_params.json`` (incl. λ),
``trials.csv``, ``history.html`` and ``importance.html`` (plotly, self-contained).
The head type ``tuned`` (``{type: tuned, study: NAME}``, :mod:`scaa.heads.tuned`) trains
an mlp from that YAML, so the ablation grid can train the tuned head like any other variant.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import yaml

from scaa.extras import require
from scaa.heads.mlp import MLPHead
from scaa.heads.tuned import DEFAULT_ROOT, TunedHead, load_best  # noqa: F401  (the head a study feeds)
from scaa.registry import LOSSES

DEFAULT_SPACE = {
    "n_layers": [1, 3],                   # depth (int range)
    "width": [32, 64, 128, 256, 512],     # per-layer width (categorical)
    "dropout": [0.0, 0.5],
    "lr": [1e-4, 1e-2],                   # log scale
    "weight_decay": [1e-6, 1e-1],         # log scale
    "weight": [0.0, 2.0],                 # contrastive λ, only for losses with a weight
}
HEAD_FIXED = {"epochs": 30, "patience": 5, "batch_size": 256}
# a running trial records a heartbeat this often; one silent for twice as long (its worker
# was killed: scancel, node failure) is marked failed, so it no longer holds a slot of n_trials
HEARTBEAT_S = 60


class StudyFull(RuntimeError):
    """A worker's new trial found the shared study full: other workers hold the last slots."""


def default_storage(study: str, root: str = DEFAULT_ROOT) -> str:
    return f"sqlite:///{root}/{study}.db"


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]


def redact(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: keep only the scheme
        return url.split("://")[0] + "://…"


def is_contrastive(loss_spec: dict | None) -> bool:
    if not loss_spec:
        return False
    return int(getattr(LOSSES.get(loss_spec["type"]), "needs_views", 1)) >= 2


def suggest(trial, space: dict, contrastive: bool) -> tuple[dict, float | None]:
    """(mlp head params, contrastive λ or None) for one trial."""
    lo, hi = space["n_layers"]
    depth = trial.suggest_int("n_layers", int(lo), int(hi))
    hidden = [int(trial.suggest_categorical(f"width_{i}", list(space["width"]))) for i in range(depth)]
    params = {"hidden": hidden,
              "dropout": trial.suggest_float("dropout", *map(float, space["dropout"])),
              "lr": trial.suggest_float("lr", *map(float, space["lr"]), log=True),
              "weight_decay": trial.suggest_float("weight_decay", *map(float, space["weight_decay"]), log=True)}
    weight = trial.suggest_float("weight", *map(float, space["weight"])) if contrastive else None
    return params, weight


def params_from_trial(trial_params: dict, fixed: dict | None = None) -> dict:
    """A head variant ({type: mlp, ...}) from a finished trial's parameters."""
    depth = int(trial_params["n_layers"])
    head = {"type": "mlp", "hidden": [int(trial_params[f"width_{i}"]) for i in range(depth)],
            "dropout": float(trial_params["dropout"]), "lr": float(trial_params["lr"]),
            "weight_decay": float(trial_params["weight_decay"])}
    head.update({k: v for k, v in (fixed or {}).items() if k not in head})
    return head


def make_study(name: str, storage: str | None = None, seed: int = 0, worker: int = 0, spec: dict | None = None,
               n_startup_trials: int = 5, n_warmup_steps: int = 3):
    optuna = require("optuna")  # names the [tune] extra when missing

    storage = storage or default_storage(name)
    if storage.startswith("sqlite:///"):
        Path(storage[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    sampler = optuna.samplers.TPESampler(seed=int(seed) + int(worker))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps)
    study_name = f"{name}-{spec_hash(spec)}" if spec is not None else name
    if "://" in storage:  # an SQLAlchemy URL (SQLite, PostgreSQL, ...): heartbeats find trials of killed workers
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(storage, heartbeat_interval=HEARTBEAT_S)
    return optuna.create_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner,
                               direction="minimize", load_if_exists=True)


def _taken(study, below: int | None = None) -> int:
    """Trials that count against n_trials: finished (complete, pruned) and running ones
    (those of other workers), only those numbered below ``below`` if given."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    return sum(1 for t in trials if below is None or t.number < below)


def objective_factory(train, dev, loss_spec: dict | None, space: dict, fixed: dict, seed: int,
                      worker: int = 0, cap: int | None = None):
    """Objective: best dev EER of an mlp trained with the trial's parameters. With ``cap``, a
    trial that finds ``cap`` trials before it (finished or running) is not run: workers that
    asked for a trial at the same moment cannot take the study past its n_trials."""
    import optuna

    contrastive = is_contrastive(loss_spec)

    def objective(trial) -> float:
        if cap is not None and _taken(trial.study, below=trial.number) >= cap:
            trial.study.stop()
            raise StudyFull(f"the study already holds {cap} finished or running trials; not run")
        trial.set_user_attr("worker", int(worker))
        params, weight = suggest(trial, space, contrastive)
        loss = dict(loss_spec or {"type": "ce"})
        if weight is not None:
            loss["weight"] = weight
        head = MLPHead(**params, **fixed, loss=loss, random_state=seed)

        def report(row):
            trial.report(float(row["dev_eer"]), int(row["epoch"]))
            if trial.should_prune():
                raise optuna.TrialPruned(f"dev EER {row['dev_eer']:.4f} at epoch {row['epoch']}")

        head.fit(train, dev=dev, log=report)
        trial.set_user_attr("best_epoch", head.best_epoch_)
        return float(head.best_dev_eer_)

    return objective


def run_worker(name: str, train, dev, loss_spec: dict | None = None, n_trials: int = 20, seed: int = 0,
               storage: str | None = None, space: dict | None = None, fixed: dict | None = None,
               worker: int = 0, spec: dict | None = None, timeout: float | None = None, **pruner):
    """Add trials to the (shared) study until it holds ``n_trials`` finished ones."""
    optuna = require("optuna")  # names the [tune] extra when missing
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    if dev is None or dev.y is None or len(np.unique(dev.y)) < 2:
        raise ValueError("tuning needs dev features with both classes (the objective is dev EER)")
    space = {**DEFAULT_SPACE, **(space or {})}
    fixed = {**HEAD_FIXED, **(fixed or {})}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = make_study(name, storage, seed, worker, spec, **pruner)
    if getattr(study._storage, "heartbeat_interval", None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # running trials of killed workers free their slots
    # other workers' running trials count: the study stops at n_trials finished ones in total
    stop = MaxTrialsCallback(int(n_trials), states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
    done = _taken(study)
    if done < n_trials:
        study.optimize(objective_factory(train, dev, loss_spec, space, fixed, seed, worker, int(n_trials)),
                       n_trials=n_trials - done, timeout=timeout, callbacks=[stop],
                       catch=(FloatingPointError, StudyFull))
    return study


def write_results(study, out_dir, fixed: dict | None = None, loss_spec: dict | None = None,
                  storage: str | None = None) -> dict:
    """best_head.yaml, best_params.json, trials.csv, history.html, importance.html."""
    from optuna.trial import TrialState

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise RuntimeError(f"study {study.study_name}: no trial completed; nothing to write")
    best = study.best_trial
    head = params_from_trial(best.params, {**HEAD_FIXED, **(fixed or {})})
    paths = {"best_head": out / "best_head.yaml", "best_params": out / "best_params.json",
             "trials": out / "trials.csv", "history": out / "history.html", "importance": out / "importance.html"}
    paths["best_head"].write_text(yaml.safe_dump(head, sort_keys=False))
    n = {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,)))
         for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    info = {"study": study.study_name, "storage": redact(storage) if storage else None, "best_dev_eer": best.value,
            "best_trial": best.number, "params": best.params, "head": head, "trials": n,
            "objective": "best dev EER over epochs (eval never used)"}
    if loss_spec and "weight" in best.params:
        info["loss"] = {**loss_spec, "weight": float(best.params["weight"])}
    paths["best_params"].write_text(json.dumps(info, indent=1, default=str))
    study.trials_dataframe().to_csv(paths["trials"], index=False)
    _plots(study, paths["history"], paths["importance"])
    return paths


def _plots(study, history_path, importance_path) -> None:
    import optuna.visualization as vis

    vis.plot_optimization_history(study).write_html(history_path, include_plotlyjs=True)
    try:
        fig = vis.plot_param_importances(study)  # fANOVA; needs 2+ finished trials with varied params
    except (RuntimeError, ValueError, ZeroDivisionError) as err:
        import plotly.graph_objects as go

        fig = go.Figure().update_layout(title=f"parameter importance not available: {err}")
    fig.write_html(importance_path, include_plotlyjs=True)


# ---------------------------------------------------------------- workflow entry points
def features_for_study(manifest_path: str, shards: dict[str, list[str]], views: list[str]):
    """(train with extra views, dev) from cached features; eval rows are never loaded."""
    from scaa import featstore
    from scaa.manifest import read
    from scaa.workflow.train import features_for

    manifest = read(manifest_path)
    train, train_rows = features_for(manifest[manifest["split"] == "train"], shards[views[0]])
    extra = {}
    for v in views[1:]:
        other = featstore.load(shards[v])
        keep = np.isin(train.utt_id, other.utt_id)
        if not keep.all():
            train = train.subset(np.flatnonzero(keep))
        extra[v] = featstore.align(other, train.utt_id.tolist())
        extra[v].y = train.y
    if extra:
        train.meta["views"] = extra
    dev, _ = features_for(manifest[manifest["split"] == "dev"], shards["none"])
    return train, dev


RUN_ONLY = ("workers", "n_trials", "timeout_s")  # how long/wide to search; not what is searched


def study_key(study_cfg: dict, loss_spec: dict | None) -> dict:
    """What defines a study's trials (its hash names the study in the storage)."""
    return {**{k: v for k, v in study_cfg.items() if k not in RUN_ONLY}, "loss": loss_spec}


def workflow_worker(name: str, study_cfg: dict, loss_spec: dict | None, views: list[str], manifest_path: str,
                    shards: dict[str, list[str]], storage: str | None, worker: int, threads: int = 1):
    from scaa.threads import limit_threads

    limit_threads(threads)
    train, dev = features_for_study(manifest_path, shards, views)
    spec = study_key(study_cfg, loss_spec)
    return run_worker(name, train, dev, loss_spec, n_trials=int(study_cfg.get("n_trials", 20)),
                      seed=int(study_cfg.get("seed", 0)), storage=storage or default_storage(name),
                      space=study_cfg.get("space"), fixed=study_cfg.get("fixed"), worker=worker, spec=spec,
                      timeout=study_cfg.get("timeout_s"))


def workflow_report(name: str, study_cfg: dict, loss_spec: dict | None, storage: str | None, out_dir: str):
    spec = study_key(study_cfg, loss_spec)
    study = make_study(name, storage or default_storage(name), int(study_cfg.get("seed", 0)), 0, spec)
    return write_results(study, out_dir, study_cfg.get("fixed"), loss_spec, storage or default_storage(name))
