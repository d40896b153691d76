"""The original project's baseline: StandardScaler + logistic regression, C by 5-fold CV."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scaa.featstore import with_views
from scaa.heads.base import Head
from scaa.heads.io import load_arrays, save_arrays
from scaa.registry import HEADS


@HEADS.register("logreg")
class LogRegHead(Head):
    """StandardScaler + logistic regression; C from a grid by stratified k-fold CV on ROC-AUC."""

    # lbfgs is deterministic; the only seed use is the CV split, and only when cv_seed is None
    deterministic = True

    @classmethod
    def seed_independent(cls, params: dict) -> bool:
        return params.get("cv_seed", 10) is not None

    def __init__(self, C: tuple = (0.01, 0.1, 1.0), folds: int = 5, class_weight: str | None = None,
                 max_iter: int = 2000, cv_seed: int | None = 10):
        self.C, self.folds, self.class_weight = tuple(C), folds, class_weight
        self.max_iter, self.cv_seed = max_iter, cv_seed
        self.mean_ = self.scale_ = self.coef_ = None
        self.intercept_ = 0.0
        self.best_C_ = None

    def fit(self, train, dev=None, loss=None, seed: int = 0, log=None):
        train = with_views(train)  # augmented views, if any, are extra training rows
        X, y = np.asarray(train.X, dtype=np.float64), np.asarray(train.y)
        # cv_seed defaults to the original project's split seed (10); None uses the cell's seed
        cv = StratifiedKFold(self.folds, shuffle=True, random_state=self.cv_seed if self.cv_seed is not None else seed)
        pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=self.max_iter,
                                                                  class_weight=self.class_weight))
        search = GridSearchCV(pipe, {"logisticregression__C": list(self.C)}, scoring="roc_auc", cv=cv, n_jobs=1)
        search.fit(X, y)
        scaler, clf = search.best_estimator_.steps[0][1], search.best_estimator_.steps[1][1]
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        self.coef_, self.intercept_ = clf.coef_[0], float(clf.intercept_[0])
        self.best_C_ = float(search.best_params_["logisticregression__C"])
        if log is not None:
            for C, auc in zip(search.cv_results_["param_logisticregression__C"],
                              search.cv_results_["mean_test_score"]):
                log({"C": float(C), "cv_roc_auc": float(auc)})
        return self

    def decision_function(self, X) -> np.ndarray:
        Z = (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
        return Z @ self.coef_ + self.intercept_

    def save(self, run_dir):
        save_arrays(run_dir, {"mean": self.mean_, "scale": self.scale_, "coef": self.coef_,
                              "intercept": np.asarray([self.intercept_])},
                    {"head": "logreg", "best_C": self.best_C_})

    @classmethod
    def load(cls, run_dir, **spec):
        arrays, meta = load_arrays(run_dir, head="logreg")
        head = cls(**spec)
        head.mean_, head.scale_, head.coef_ = arrays["mean"], arrays["scale"], arrays["coef"]
        head.intercept_, head.best_C_ = float(arrays["intercept"][0]), meta.get("best_C")
        return head

    def n_parameters(self):
        n = 0 if self.coef_ is None else int(self.coef_.size + 1)
        return {"total": n, "trainable": n}
