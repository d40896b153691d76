"""The ``tuned`` head: an ``mlp`` with the best parameters of an Optuna study (:mod:`scaa.workflow.tune`).

``{type: tuned, study: NAME}`` reads ``{root}/{study}/best_head.yaml`` (written by the
study's report job) when it is fitted, not when it is built, so a grid can name a study
that has not run yet. The trained model is saved as a plain ``mlp``: a run directory
never needs the YAML again.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from sklearn.utils.validation import check_is_fitted

from scaa.heads.base import Head
from scaa.heads.mlp import MLPHead
from scaa.registry import HEADS

DEFAULT_ROOT = "results/tune"  # where tuning studies write their results, one folder per study


def load_best(study: str, root: str | Path = DEFAULT_ROOT) -> dict:
    """A study's best head variant ({type: mlp, ...}) from its best_head.yaml."""
    path = Path(root) / study / "best_head.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run the tune_study rule for {study!r} first "
                                f"(snakemake {path})")
    spec = yaml.safe_load(path.read_text()) or {}
    if spec.get("type") != "mlp":
        raise ValueError(f"{path}: expected an mlp head variant, got type {spec.get('type')!r}")
    return spec


@HEADS.register("tuned")
class TunedHead(Head):
    """An mlp built from a tuning study's best_head.yaml ({type: tuned, study: NAME})."""

    accepts_losses = None  # any registered loss, as mlp
    built_by_workflow = True  # its spec comes from a study the workflow runs: not built at start-up

    def __init__(self, study: str | None = None, root: str = DEFAULT_ROOT, overrides: dict | None = None,
                 loss="ce", random_state=0):
        self.study = study
        self.root = root
        self.overrides = overrides
        self.loss = loss
        self.random_state = random_state

    def check_params(self) -> None:
        if not self.study:
            raise ValueError("tuned head needs study: the name of a tuning study")
        if self.overrides is not None and not isinstance(self.overrides, dict):
            raise ValueError(f"tuned head: overrides must be a mapping of mlp parameters, got {self.overrides!r}")

    def mlp_spec(self) -> dict:
        """The mlp parameters this head trains with: the study's best, then ``overrides``."""
        spec = load_best(self.study, self.root)
        spec.pop("type")
        return {**spec, **(self.overrides or {})}

    def fit(self, X, y=None, *, dev=None, log=None):
        self.check_params()
        self.mlp_ = MLPHead(**self.mlp_spec(), loss=self.loss, random_state=self.random_state)
        self.mlp_.fit(X, y, dev=dev, log=log)
        self.classes_ = self.mlp_.classes_
        self.n_features_in_ = self.mlp_.n_features_in_
        return self

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self, "mlp_")
        return self.mlp_.decision_function(X)

    def save(self, run_dir) -> None:
        check_is_fitted(self, "mlp_")
        self.mlp_.save(run_dir)

    @classmethod
    def load(cls, run_dir, **spec) -> MLPHead:
        return MLPHead.load(run_dir)

    def n_parameters(self) -> dict:
        return self.mlp_.n_parameters() if hasattr(self, "mlp_") else {"total": 0, "trainable": 0}
