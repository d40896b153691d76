"""The original project's baseline: StandardScaler + logistic regression, C by 5-fold CV."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scaa.heads.base import Head, pooled_input, pooled_rows
from scaa.heads.io import load_arrays, save_arrays
from scaa.registry import HEADS
from scaa.seeding import as_seed


@HEADS.register("logreg")
class LogRegHead(Head):
    """StandardScaler + logistic regression; C from a grid by stratified k-fold CV on ROC-AUC."""

    # lbfgs is deterministic; the only seed use is the CV split, and only when cv_seed is None
    deterministic = True

    @classmethod
    def seed_independent(cls, params: dict) -> bool:
        return params.get("cv_seed", 10) is not None

    def __init__(self, C: tuple = (0.01, 0.1, 1.0), folds: int = 5, class_weight: str | None = None,
                 max_iter: int = 2000, cv_seed: int | None = 10, random_state=0):
        self.C = C
        self.folds = folds
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.cv_seed = cv_seed
        self.random_state = random_state

    def check_params(self) -> None:
        if np.ndim(self.C) != 1 or len(self.C) == 0:
            raise ValueError(f"logreg: C must be a non-empty list of candidate values, got {self.C!r}")
        if int(self.folds) < 2:
            raise ValueError(f"logreg: folds must be >= 2, got {self.folds}")

    def fit(self, X, y=None, *, dev=None, log=None):
        """C by stratified k-fold CV on the training rows (augmented views are extra rows);
        ``dev`` is not needed (accepted for the common signature)."""
        self.check_params()
        X, y = pooled_rows(self, X, y)
        # cv_seed defaults to the original project's split seed (10); None uses random_state
        split_seed = self.cv_seed if self.cv_seed is not None else as_seed(self.random_state)
        cv = StratifiedKFold(int(self.folds), shuffle=True, random_state=split_seed)
        pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=int(self.max_iter),
                                                                  class_weight=self.class_weight))
        search = GridSearchCV(pipe, {"logisticregression__C": [float(c) for c in self.C]}, scoring="roc_auc",
                              cv=cv, n_jobs=1)
        search.fit(X, y)
        scaler, clf = search.best_estimator_.steps[0][1], search.best_estimator_.steps[1][1]
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        self.coef_, self.intercept_ = clf.coef_[0], float(clf.intercept_[0])
        self.best_C_ = float(search.best_params_["logisticregression__C"])
        self.n_iter_ = np.asarray(clf.n_iter_)
        if log is not None:
            for C, auc in zip(search.cv_results_["param_logisticregression__C"],
                              search.cv_results_["mean_test_score"]):
                log({"C": float(C), "cv_roc_auc": float(auc)})
        return self

    def decision_function(self, X) -> np.ndarray:
        Z = (pooled_input(self, X) - self.mean_) / self.scale_
        return Z @ self.coef_ + self.intercept_

    def save(self, run_dir):
        save_arrays(run_dir, {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_,
                              "intercept": np.asarray([self.intercept_])},
                    {"head": "logreg", "best_C": self.best_C_, "classes": self.classes_.tolist()})

    @classmethod
    def load(cls, run_dir, **spec):
        arrays, meta = load_arrays(run_dir, head="logreg")
        head = cls(**spec)
        head.mean_, head.scale_, head.coef_ = arrays["mean"], arrays["scale"], arrays["coef"]
        head.intercept_, head.best_C_ = float(arrays["intercept"][0]), meta.get("best_C")
        head.classes_ = np.asarray(meta.get("classes", [0, 1]))
        head.n_features_in_ = int(head.coef_.size)
        return head

    def n_parameters(self):
        n = int(self.coef_.size + 1) if hasattr(self, "coef_") else 0
        return {"total": n, "trainable": n}
