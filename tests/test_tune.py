"""Optuna tuning of the mlp head: reproducible for one seed, dev only, usable as a `tuned` head."""
import json
import warnings

import numpy as np
import pytest
import yaml

from scaa.featstore import Features
from scaa.registry import HEADS
from scaa.workflow.train import build_head
from scaa.workflow.tune import TunedHead, redact, run_worker, write_results

SPACE = {"n_layers": [1, 2], "width": [8, 16, 32], "dropout": [0.0, 0.3]}
FIXED = {"epochs": 4, "patience": 2, "batch_size": 32}


def _features(n, seed, shift=0.8, dim=6):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.standard_normal((n, dim)).astype(np.float32)
    X[:, 0] += shift * y
    X[:, 1] += 0.5 * shift * y * X[:, 2]  # a little non-linear structure
    return Features(np.array([f"c{seed}_{i}" for i in range(n)]), X, y=y)


def _study(tmp_path, tag, seed, n_trials=5):
    warnings.simplefilter("ignore")
    return run_worker("t", _features(160, 1), _features(80, 2), {"type": "ce"}, n_trials=n_trials, seed=seed,
                      storage=f"sqlite:///{tmp_path}/{tag}.db", space=SPACE, fixed=FIXED,
                      n_startup_trials=2, n_warmup_steps=1)


def test_same_seed_same_best_params(tmp_path):
    a, b = _study(tmp_path, "a", seed=3), _study(tmp_path, "b", seed=3)
    assert a.best_params == b.best_params and a.best_value == b.best_value
    values = [t.value for t in a.trials]
    assert len(a.trials) == 5 and len(set(map(str, values))) > 1  # the objective varies across trials
    assert all(0 <= t.value <= 1 for t in a.trials if t.value is not None)
    c = _study(tmp_path, "c", seed=4)
    assert [t.params for t in c.trials] != [t.params for t in a.trials]
    # resuming the same storage does not add trials beyond n_trials
    assert len(_study(tmp_path, "a", seed=3).trials) == 5


def test_results_and_tuned_head(tmp_path, monkeypatch):
    study = _study(tmp_path, "r", seed=0, n_trials=4)
    out = tmp_path / "results" / "tune" / "mystudy"
    paths = write_results(study, out, FIXED, {"type": "ce"}, "postgresql://user:secret@db/optuna")
    head_spec = yaml.safe_load(paths["best_head"].read_text())
    assert head_spec["type"] == "mlp" and head_spec["epochs"] == 4
    assert head_spec["hidden"] == [study.best_params[f"width_{i}"] for i in range(study.best_params["n_layers"])]
    info = json.loads(paths["best_params"].read_text())
    assert info["best_dev_eer"] == study.best_value and "secret" not in info["storage"]
    for key in ("history", "importance"):
        assert paths[key].stat().st_size > 100_000  # self-contained plotly
    # the grid builds {type: tuned, study: NAME} as an mlp from that YAML, and it trains and round-trips
    monkeypatch.chdir(tmp_path)
    head = HEADS.build({"type": "tuned", "study": "mystudy", "loss": {"type": "ce"}})
    assert isinstance(head, TunedHead) and head.mlp_spec()["hidden"] == head_spec["hidden"]
    head.fit(_features(160, 1), dev=_features(80, 2))
    assert head.mlp_.hidden == head_spec["hidden"]
    head.save(tmp_path / "run")
    spec = {"head": {"type": "tuned", "study": "mystudy"}, "freeze": "frozen"}
    paths["best_head"].unlink()  # a trained run must not need the YAML any more
    again = build_head(spec, tmp_path / "run")
    X = _features(20, 9).X
    assert np.allclose(again.decision_function(X), head.decision_function(X))
    with pytest.raises(FileNotFoundError, match="tune"):
        HEADS.build({"type": "tuned", "study": "mystudy"}).fit(_features(20, 9))


def test_redact():
    assert "pw" not in redact("postgresql://u:pw@host:5432/db")
    assert redact("sqlite:///results/tune/x.db") == "sqlite:///results/tune/x.db"
