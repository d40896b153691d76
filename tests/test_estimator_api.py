"""Heads are scikit-learn estimators: clone / get_params / set_params, GridSearchCV, plain
arrays in, scikit-learn's own estimator checks, and no global state changed by fit."""
import random

import numpy as np
import pytest
import torch
import yaml
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks
from torch import nn

from scaa.featstore import Features
from scaa.heads.logreg import LogRegHead
from scaa.heads.mlp import MLPHead
from scaa.heads.score import ScoreHead
from scaa.heads.svm import SVMHead
from scaa.heads.topk import TopKHead
from scaa.heads.tuned import TunedHead
from scaa.registry import HEADS


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def pooled(n=120, d=6, seed=0):
    r = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = r.normal(size=(n, d)).astype(np.float32)
    X[:, :2] += 1.5 * y[:, None]
    return X, y


def frames(n=24, d=6, seed=0):
    r = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = []
    for lab in y:
        a = r.normal(size=(int(r.integers(8, 20)), d)).astype(np.float32)
        a[:, 0] += 1.5 * lab
        X.append(a)
    return X, y


class TinyTop(nn.Module):
    def __init__(self, d=6):
        super().__init__()
        self.lin = nn.Linear(d, d)

    def forward(self, x, mask):
        return self.lin(x)


# ---------------------------------------------------------------- clone / params

@pytest.mark.parametrize("name", HEADS.names())
def test_every_registered_head_clones_and_round_trips_its_params(name):
    head = HEADS.build({"type": name})
    params = head.get_params()
    assert set(vars(head)) == set(params)  # __init__ stores its arguments and nothing else
    assert {"random_state"} <= set(params)
    twin = clone(head)
    assert type(twin) is type(head) and twin.get_params() == params
    twin.set_params(random_state=123)
    assert twin.get_params()["random_state"] == 123 and head.get_params()["random_state"] == params["random_state"]
    assert clone(twin).get_params() == twin.get_params()


def test_topk_head_clones_with_its_top_layers():
    top = TinyTop()
    head = TopKHead(top=top, hidden=[4], epochs=1)
    assert head.top is top  # stored as given
    twin = clone(head)
    assert twin.get_params()["hidden"] == [4] and isinstance(twin.top, TinyTop)


@pytest.mark.parametrize("spec, match", [({"type": "mlp", "dropout": 2.0}, "dropout"),
                                         ({"type": "lcnn", "train_precision": "fp8"}, "train_precision"),
                                         ({"type": "svm", "C": -1.0}, "C"),
                                         ({"type": "logreg", "folds": 1}, "folds"),
                                         ({"type": "tuned"}, "study")])
def test_bad_hyper_parameters_are_rejected_by_fit_not_init(spec, match):
    head = HEADS.build(spec)  # building never validates, and stores the value as given
    for key in set(spec) - {"type"}:
        assert head.get_params()[key] == spec[key]
    with pytest.raises(ValueError, match=match):
        head.check_params()
    X, y = frames() if head.needs == "frames" else pooled()
    with pytest.raises(ValueError, match=match):
        head.fit(X, y)


# ---------------------------------------------------------------- plain arrays in

def test_mlp_on_arrays_equals_mlp_on_features_and_dev_is_a_pair():
    X, y = pooled()
    Xd, yd = pooled(seed=1)
    spec = {"type": "mlp", "hidden": [8], "epochs": 3, "batch_size": 32, "random_state": 3}
    rows = []
    a = HEADS.build(spec).fit(X, y, dev=(Xd, yd), log=rows.append)
    b = HEADS.build(spec).fit(Features(np.arange(len(y)).astype(str), X, y=y),
                              dev=Features(np.arange(len(yd)).astype(str), Xd, y=yd))
    np.testing.assert_array_equal(a.decision_function(Xd), b.decision_function(Xd))
    assert a.best_epoch_ is not None and np.isfinite(rows[0]["dev_eer"])
    assert list(a.classes_) == [0, 1] and a.n_features_in_ == X.shape[1]
    proba = a.predict_proba(Xd)
    assert proba.shape == (len(yd), 2) and np.allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(a.predict(Xd), (a.decision_function(Xd) > 0).astype(int))


def test_labels_other_than_0_1_come_back_from_predict():
    X, y = pooled()
    labels = np.where(y == 1, "spoof", "bonafide")
    head = HEADS.build({"type": "mlp", "hidden": [8], "epochs": 2, "batch_size": 32}).fit(X, labels)
    assert list(head.classes_) == ["bonafide", "spoof"]
    assert set(head.predict(X)) <= {"bonafide", "spoof"}


def test_frame_heads_fit_on_a_list_of_arrays():
    X, y = frames()
    for spec in ({"type": "lcnn", "channels": [4], "embedding_dim": 4, "epochs": 1, "batch_size": 8},
                 {"type": "gmm", "n_components": 2, "max_iter": 5}):
        head = HEADS.build(spec).fit(X, y)
        s = head.decision_function(X)
        assert s.shape == (len(X),) and np.isfinite(s).all()


def test_grid_search_over_the_mlp_hidden_size():
    X, y = pooled(n=96)
    mlp = HEADS.build({"type": "mlp", "epochs": 2, "batch_size": 32, "lr": 1e-2})
    search = GridSearchCV(mlp, {"hidden": [(4,), (16,)]}, cv=2, scoring="roc_auc").fit(X, y)
    assert search.best_params_["hidden"] in [(4,), (16,)]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.hidden == search.best_params_["hidden"]
    assert mlp.get_params()["hidden"] == (128,)  # the searched template is never fitted or changed
    assert not hasattr(mlp, "module_")


# ---------------------------------------------------------------- no global state

GLOBAL_STATE_CASES = [({"type": "mlp", "hidden": [8], "epochs": 2, "batch_size": 32, "dropout": 0.2}, "pooled"),
                      ({"type": "attn", "attn_dim": 4, "hidden": [4], "epochs": 1, "batch_size": 8}, "frames"),
                      ({"type": "logreg", "folds": 3, "cv_seed": None}, "pooled"),
                      ({"type": "svm", "max_train": 60}, "pooled"),
                      ({"type": "gmm", "n_components": 2, "max_iter": 5}, "frames")]


@pytest.fixture
def restore_determinism():
    was = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(was[0], warn_only=was[1])


@pytest.mark.parametrize("deterministic", [False, True])
@pytest.mark.parametrize("spec, kind", GLOBAL_STATE_CASES)
def test_fit_leaves_global_random_state_and_determinism_alone(spec, kind, deterministic, restore_determinism):
    X, y = pooled() if kind == "pooled" else frames()
    torch.use_deterministic_algorithms(deterministic, warn_only=deterministic)
    np.random.seed(1234)
    torch.manual_seed(1234)
    random.seed(1234)
    np_state, torch_state, py_state = np.random.get_state(), torch.random.get_rng_state(), random.getstate()
    HEADS.build(spec).fit(X, y)
    assert torch.are_deterministic_algorithms_enabled() is deterministic
    assert torch.is_deterministic_algorithms_warn_only_enabled() is deterministic
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert random.getstate() == py_state


@pytest.mark.parametrize("spec, kind", GLOBAL_STATE_CASES)
def test_random_state_alone_decides_the_model(spec, kind):
    X, y = pooled() if kind == "pooled" else frames()
    np.random.seed(1)
    torch.manual_seed(1)
    a = HEADS.build({**spec, "random_state": 5}).fit(X, y).decision_function(X)
    np.random.seed(2)
    torch.manual_seed(2)
    b = HEADS.build({**spec, "random_state": 5}).fit(X, y).decision_function(X)
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- scikit-learn's estimator checks

# scikit-learn's estimator checks run on every registered head that takes pooled [N, D]
# features: logreg, svm, mlp (the shared torch base validates pooled arrays with
# scikit-learn's validate_data), score and tuned (below). scikit-learn yields the checks
# for a binary-only classifier (tags.classifier_tags.multi_class = False, so the multiclass
# checks become "raises 'Only binary classification is supported'"); check_array_api_input
# skips itself unless SCIPY_ARRAY_API is set.
# Not run on the frame heads (attn, lcnn, gmm, xattn): their X is a list of [T, D] frame
# arrays per clip, and every check feeds 2-D arrays [N, D]; their estimator API is covered
# by the tests above (clone, params, arrays in, global state) and their training and
# scoring by tests/test_heads.py and tests/test_xattn.py.
# mlp runs with a tiny training budget (set_params below) so the ~56 checks take seconds;
# it still passes check_classifiers_train's accuracy bar on scikit-learn's blobs.
SCORE_WIDTH = ("the score head takes a pretrained model's score (1 column) or logits (2 columns) and raises "
               "ValueError on any other width; this check fits it on 3 or more features")
# Checks expected to fail, with the reason, per head class; every other check must pass.
SKIPPED_CHECKS: dict[str, dict[str, str]] = {
    "LogRegHead": {},
    "SVMHead": {},
    "MLPHead": {},
    "TunedHead": {},
    "ScoreHead": {name: SCORE_WIDTH for name in (
        "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object", "check_estimators_dtypes",
        "check_estimators_nan_inf", "check_estimators_pickle", "check_f_contiguous_array_estimator",
        "check_fit2d_predict1d", "check_fit_score_takes_y", "check_methods_sample_order_invariance",
        "check_methods_subset_invariance", "check_n_features_in_after_fitting", "check_pipeline_consistency",
        "check_positive_only_tag_during_fit", "check_supervised_y_2d")},
}
TINY_MLP = {"hidden": [8], "epochs": 20, "batch_size": 32, "lr": 1e-2}


@parametrize_with_checks([LogRegHead(), SVMHead(), MLPHead().set_params(**TINY_MLP), ScoreHead()],
                         expected_failed_checks=lambda est: SKIPPED_CHECKS[type(est).__name__])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_tuned_head_passes_the_estimator_checks(tmp_path):
    """tuned is an mlp with a study's best parameters: a best_head.yaml is all it reads,
    so it is checked without running an Optuna study."""
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "best_head.yaml").write_text(yaml.safe_dump({"type": "mlp", **TINY_MLP}))
    head = TunedHead(study="s", root=str(tmp_path))
    check_estimator(head, expected_failed_checks=SKIPPED_CHECKS["TunedHead"], on_skip=None, on_fail="raise")


def test_every_pooled_head_is_checked_and_every_frame_head_is_not():
    checked = {"logreg", "svm", "mlp", "score", "tuned"}
    for name in HEADS.names():
        assert (HEADS.get(name).needs == "pooled") == (name in checked), name
    assert {type(HEADS.build({"type": n})).__name__ for n in checked} == set(SKIPPED_CHECKS)


def test_mlp_array_input_is_validated_as_scikit_learn_does():
    X, y = pooled(n=64)
    head = MLPHead().set_params(**{**TINY_MLP, "epochs": 2})
    with pytest.warns(DataConversionWarning):
        head.fit(X, y[:, None])  # a column-vector y is raveled, with scikit-learn's warning
    with pytest.raises(ValueError, match="X has 5 features, but MLPHead is expecting 6 features"):
        head.decision_function(X[:, :5])
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        head.predict(X[0])
    assert head.decision_function(X[:0]).shape == (0,)  # an empty array still scores to nothing
    with pytest.raises(ValueError, match="0 sample"):
        clone(head).fit(X[:0], y[:0])
