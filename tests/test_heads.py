"""Heads: training loop contract, determinism, save/load round trips, numpy re-implementations."""
import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture
from sklearn.svm import SVC
from torch import nn

from scaa import metrics
from scaa.featstore import Features
from scaa.heads.gmm import diag_gmm_loglik
from scaa.heads.svm import rbf_decision
from scaa.heads.topk import TopKHead
from scaa.registry import HEADS


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster and avoids oversubscription on small CI machines."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def pooled(n=240, d=12, seed=0, shift=1.5, spoof_frac=0.4):
    r = np.random.default_rng(seed)
    y = (r.random(n) < spoof_frac).astype(int)
    X = r.normal(size=(n, d)).astype(np.float32)
    X[:, :2] += shift * y[:, None]
    return Features(np.array([f"c{seed}_{i}" for i in range(n)]), X, y=y)


def frames(n=60, d=8, seed=0, shift=1.0):
    r = np.random.default_rng(seed)
    y = (r.random(n) < 0.5).astype(int)
    X = []
    for lab in y:
        a = r.normal(size=(int(r.integers(5, 40)), d))
        a[:, 0] += shift * lab
        a[:, 1] *= 1 + lab  # spoof frames are more variable in dim 1
        X.append(a.astype(np.float16))
    return Features(np.array([f"f{seed}_{i}" for i in range(n)]), X, output="frames", y=y)


def with_view(f, seed=9, scale=0.3):
    r = np.random.default_rng(seed)
    if f.output == "pooled":
        other = Features(f.utt_id, (f.X + r.normal(scale=scale, size=f.X.shape)).astype(np.float32), y=f.y)
    else:
        other = Features(f.utt_id, [(a + r.normal(scale=scale, size=a.shape)).astype(np.float16) for a in f.X],
                         output="frames", y=f.y)
    return Features(f.utt_id, f.X, f.output, f.y, {"views": {"none": f, "noisy": other}})


def fit(spec, train, dev, loss="ce", seed=0):
    rows = []
    head = HEADS.build({**spec, "loss": loss, "random_state": seed}).fit(train, dev=dev, log=rows.append)
    return head, rows


# ---------------------------------------------------------------- mlp + the loop

def test_mlp_learns_logs_and_selects_on_dev():
    train, dev = pooled(), pooled(seed=1)
    head, rows = fit({"type": "mlp", "hidden": [16], "epochs": 8, "batch_size": 32, "lr": 1e-2}, train, dev)
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert {"epoch", "train_loss", "train_ce", "dev_eer", "seconds"} <= set(rows[0])
    best = min(r["dev_eer"] for r in rows)
    assert head.best_dev_eer_ == best
    assert rows[head.best_epoch_ - 1]["dev_eer"] == best
    # the kept state is the best epoch's: rescoring dev reproduces its EER
    assert metrics.eer(head.decision_function(dev), dev.y) == pytest.approx(best)
    assert best < 0.3  # chance is 0.5; the two shifted dimensions separate the classes
    assert head.n_parameters()["total"] == head.n_parameters()["trainable"] > 0


def test_early_stopping_patience():
    train, dev = pooled(shift=6.0), pooled(seed=1, shift=6.0)  # separable: dev EER hits its floor early
    head, rows = fit({"type": "mlp", "hidden": [8], "epochs": 50, "patience": 3}, train, dev)
    assert len(rows) == head.best_epoch_ + 3 < 50


def test_same_seed_same_scores_different_seed_different():
    train, dev, test = pooled(), pooled(seed=1), pooled(seed=2)
    spec = {"type": "mlp", "hidden": [16], "epochs": 3, "batch_size": 32, "dropout": 0.2}
    a = fit(spec, train, dev, seed=3)[0].decision_function(test.X)
    b = fit(spec, train, dev, seed=3)[0].decision_function(test.X)
    c = fit(spec, train, dev, seed=4)[0].decision_function(test.X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("loss", ["ce", "ocsoftmax", {"type": "supcon", "weight": 0.5, "temperature": 0.2}])
def test_mlp_save_load_round_trip(tmp_path, loss):
    train, dev = pooled(), pooled(seed=1)
    if isinstance(loss, dict):
        train = with_view(train)
    head, _ = fit({"type": "mlp", "hidden": [16], "epochs": 3}, train, dev, loss=loss)
    head.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"model.safetensors", "model.json"}
    loaded = HEADS.get("mlp").load(tmp_path)
    assert np.array_equal(loaded.decision_function(dev.X), head.decision_function(dev.X))
    assert loaded.n_parameters() == head.n_parameters()


def test_ocsoftmax_scores_come_from_the_loss():
    train, dev = pooled(), pooled(seed=1)
    head, rows = fit({"type": "mlp", "hidden": [16], "epochs": 8, "batch_size": 32, "lr": 1e-2}, train, dev,
                    loss="ocsoftmax")
    assert "train_ocsoftmax" in rows[0]
    s = head.decision_function(dev.X)
    assert np.all(np.abs(s) <= 1 + 1e-6)  # scores are -cos
    assert metrics.eer(s, dev.y) < 0.35


@pytest.mark.parametrize("name", ["spectral_contrastive", "ntxent", "oc_supcon"])
def test_contrastive_training_uses_two_views(name):
    train, dev = with_view(pooled()), pooled(seed=1)
    head, rows = fit({"type": "mlp", "hidden": [16], "epochs": 3}, train, dev, loss={"type": name, "weight": 1.0})
    assert {"train_classifier", "train_contrastive"} <= set(rows[0])
    assert np.isfinite(head.decision_function(dev.X)).all()
    with pytest.raises(ValueError, match="needs 2 views"):
        HEADS.build({"type": "mlp", "epochs": 1, "loss": name}).fit(pooled(), dev=dev)


def test_ce_uses_extra_views_as_augmentation():
    train, dev = pooled(), pooled(seed=1)
    spec = {"type": "mlp", "hidden": [16], "epochs": 2, "batch_size": 32}
    plain = fit(spec, train, dev)[0].decision_function(dev.X)
    aug = fit(spec, with_view(train), dev)[0].decision_function(dev.X)
    # a view that is the anchor itself is ignored
    same = Features(train.utt_id, train.X, y=train.y, meta={"views": {"none": train}})
    assert np.array_equal(fit(spec, same, dev)[0].decision_function(dev.X), plain)
    assert not np.allclose(plain, aug)


def test_bad_inputs_raise_clearly():
    train, dev = pooled(), pooled(seed=1)
    with pytest.raises(ValueError, match="needs frames"):
        HEADS.build({"type": "attn"}).fit(train, dev=dev)
    one_class = Features(train.utt_id, train.X, y=np.zeros(len(train), int))
    with pytest.raises(ValueError, match="both classes"):
        HEADS.build({"type": "mlp", "epochs": 1}).fit(one_class, dev=dev)
    with pytest.raises(ValueError, match="dev"):
        HEADS.build({"type": "mlp", "epochs": 1}).fit(train, dev=Features(dev.utt_id, dev.X, y=np.ones(len(dev), int)))
    bad = Features(train.utt_id, train.X.copy(), y=train.y)
    bad.X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        HEADS.build({"type": "mlp", "epochs": 1}).fit(bad, dev=dev)
    head = fit({"type": "mlp", "epochs": 1}, train, dev)[0]
    with pytest.raises(ValueError, match="dimension"):  # Features input: the head's own message
        head.decision_function(Features(np.array(["a", "b"]), np.zeros((2, 5), np.float32)))
    with pytest.raises(ValueError, match="X has 5 features, but MLPHead is expecting"):  # arrays: scikit-learn's
        head.decision_function(np.zeros((2, 5), np.float32))


# ---------------------------------------------------------------- frame heads

@pytest.mark.parametrize("spec", [{"type": "attn", "attn_dim": 16, "hidden": [16]},
                                  {"type": "lcnn", "channels": [4, 8], "embedding_dim": 8}])
def test_frame_heads_train_save_load_and_are_batch_independent(tmp_path, spec):
    train, dev = frames(), frames(seed=1)
    head, rows = fit({**spec, "epochs": 4, "batch_size": 8, "lr": 3e-3}, train, dev)
    assert len(rows) >= 1 and np.isfinite(rows[-1]["dev_eer"])
    s = head.decision_function(dev)
    alone = np.array([head.decision_function(dev.subset(np.array([i])))[0] for i in range(6)])
    np.testing.assert_allclose(alone, s[:6], rtol=1e-4, atol=1e-5)
    head.save(tmp_path)
    loaded = HEADS.get(spec["type"]).load(tmp_path)
    np.testing.assert_array_equal(loaded.decision_function(dev), s)


def test_attn_learns_and_contrastive_frames():
    train, dev = frames(n=80), frames(seed=1)
    head, _ = fit({"type": "attn", "attn_dim": 16, "hidden": [16], "epochs": 4, "batch_size": 16, "lr": 1e-2},
                  train, dev)
    assert head.best_dev_eer_ < 0.3
    head, rows = fit({"type": "attn", "attn_dim": 16, "hidden": [16], "epochs": 1, "batch_size": 16},
                     with_view(train), dev, loss={"type": "spectral_contrastive", "weight": 0.5})
    assert "train_contrastive" in rows[0]


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_epoch_selection_reads_dev_scores_at_the_training_precision(precision):
    """bf16 training scores dev under the same autocast each epoch (selection only): the best
    epoch's logged dev EER is the EER of the kept state's bf16 dev scores, while the head's
    own scores are float32; float32 training logs the EER of exactly those scores."""
    from scaa.heads.base import positive

    train, dev = frames(), frames(seed=1)
    head, rows = fit({"type": "attn", "attn_dim": 16, "hidden": [16], "epochs": 3, "batch_size": 8,
                      "train_precision": precision}, train, dev)
    assert head.train_precision_ == precision
    data = head._data(dev)
    batches = [(idx, *data.collate(idx)) for idx in head._score_batches(data)]
    y = positive(dev.y, head.classes_)
    bf16 = head._score_collated(batches, len(dev), bf16=True)
    f32 = head.decision_function(dev)
    np.testing.assert_array_equal(head._score_collated(batches, len(dev)), f32)
    logged = min(r["dev_eer"] for r in rows)
    assert head.best_dev_eer_ == logged == metrics.eer(bf16 if precision == "bfloat16" else f32, y)
    assert not np.array_equal(bf16, f32)
    np.testing.assert_allclose(bf16, f32, atol=0.05 * np.ptp(f32))  # bf16 rounding, not another model


def test_frame_batches_are_the_standardised_float16_frames_and_bad_frames_fail_early():
    from scaa.heads.torch_data import BatchData as _Data

    feats, other = frames(n=12, d=5), frames(n=12, d=5, seed=4)
    mean = np.linspace(-1, 1, 5).astype(np.float32)
    std = np.linspace(0.5, 2, 5).astype(np.float32)
    idx = np.array([3, 0, 7])
    batches = []
    for preconvert in (True, False):  # standardised once per fit, or per batch (large data)
        a, b = _Data(feats, mean, std, 8, preconvert), _Data(other, mean, std, 8, preconvert)
        assert (a.flat is not None) == preconvert
        batches.append((a.collate(idx), a.collate(idx, b)))
    (x, mask), (xy, mask2) = batches[0]
    for (x_, m_), (xy_, m2_) in batches[1:]:  # the same values to the bit either way
        assert torch.equal(x_, x) and torch.equal(m_, mask) and torch.equal(xy_, xy) and torch.equal(m2_, mask2)
    assert torch.equal(xy[:3, :x.shape[1]], x) and xy.shape[0] == 6
    for b, i in enumerate(idx):
        a = torch.from_numpy(feats.X[i].astype(np.float32))
        n = len(a)
        assert int(mask[b].sum()) == n and bool((x[b, n:] == 0).all())
        np.testing.assert_array_equal(x[b, :n].numpy(), ((a - torch.from_numpy(mean)) / torch.from_numpy(std)).numpy())
    with pytest.raises(ValueError, match="pre-converted"):
        _Data(feats, mean, std, 8, True).collate(idx, _Data(other, mean, std, 8, False))
    bad = list(feats.X)
    bad[2] = np.zeros((4, 6), np.float16)
    with pytest.raises(ValueError, match="same dimension"):
        _Data(Features(feats.utt_id, bad, output="frames"), None, None)
    bad[2] = np.full((4, 5), np.nan, np.float16)
    with pytest.raises(ValueError, match="NaN"):
        _Data(Features(feats.utt_id, bad, output="frames"), None, None)


@pytest.mark.parametrize("loss", ["ce", {"type": "spectral_contrastive", "weight": 0.5}])
def test_large_frame_data_trains_to_the_same_scores_without_a_float32_copy(monkeypatch, loss):
    """Past PRECONVERT_BYTES frames are converted per batch: the fit is the same to the bit."""
    from scaa.heads import torch_data

    train, dev = with_view(frames()), frames(seed=1)
    spec = {"type": "attn", "attn_dim": 16, "hidden": [16], "epochs": 2, "batch_size": 8}
    small = fit(spec, train, dev, loss=loss)[0]
    assert small._data(dev).flat is not None
    monkeypatch.setattr(torch_data, "PRECONVERT_BYTES", 0)
    large = fit(spec, train, dev, loss=loss)[0]
    assert large._data(dev).flat is None
    np.testing.assert_array_equal(large.decision_function(dev), small.decision_function(dev))


def test_lcnn_default_size_is_small():
    head, _ = fit({"type": "lcnn", "epochs": 1, "batch_size": 16}, frames(n=20, d=20), frames(n=20, d=20, seed=1))
    assert 50_000 < head.n_parameters()["total"] < 150_000


def test_frame_heads_deterministic():
    train, dev = frames(), frames(seed=1)
    spec = {"type": "lcnn", "channels": [4, 8], "embedding_dim": 8, "epochs": 2, "batch_size": 8}
    a = fit(spec, train, dev, seed=1)[0].decision_function(dev)
    b = fit(spec, train, dev, seed=1)[0].decision_function(dev)
    assert np.array_equal(a, b)


# ---------------------------------------------------------------- svm / gmm

def test_svm_numpy_matches_sklearn_and_round_trips(tmp_path):
    r = np.random.default_rng(0)
    X, y = r.normal(size=(80, 5)), (r.random(80) < 0.5).astype(int)
    X[:, 0] += 2 * y
    clf = SVC(C=2.0, gamma=0.3).fit(X, y)
    Q = r.normal(size=(30, 5))
    ours = rbf_decision(Q, clf.support_vectors_, clf.dual_coef_[0], clf.intercept_[0], 0.3)
    np.testing.assert_allclose(ours, clf.decision_function(Q), rtol=1e-8, atol=1e-10)

    train, dev = pooled(), pooled(seed=1)
    head = HEADS.build({"type": "svm"}).fit(train, dev=dev)
    s = head.decision_function(dev.X)
    assert metrics.eer(s, dev.y) < 0.3  # higher = spoof
    head.save(tmp_path)
    np.testing.assert_allclose(HEADS.get("svm").load(tmp_path).decision_function(dev.X), s, rtol=1e-12)


def test_svm_subsample_is_seeded():
    train, dev = pooled(n=300), pooled(seed=1)
    a = HEADS.build({"type": "svm", "max_train": 100, "random_state": 0}).fit(train).decision_function(dev.X)
    b = HEADS.build({"type": "svm", "max_train": 100, "random_state": 0}).fit(train).decision_function(dev.X)
    c = HEADS.build({"type": "svm", "max_train": 100, "random_state": 1}).fit(train).decision_function(dev.X)
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_gmm_loglik_matches_sklearn_and_head_round_trips(tmp_path):
    r = np.random.default_rng(0)
    g = GaussianMixture(3, covariance_type="diag", random_state=0).fit(r.normal(size=(300, 4)))
    Q = r.normal(size=(20, 4)) * 2
    np.testing.assert_allclose(diag_gmm_loglik(Q, g.weights_, g.means_, g.covariances_), g.score_samples(Q),
                               rtol=1e-9)

    train, dev = frames(n=80), frames(seed=1)
    rows = []
    head = HEADS.build({"type": "gmm", "n_components": 4}).fit(train, dev=dev, log=rows.append)
    assert rows[-1]["dev_eer"] < 0.3
    s = head.decision_function(dev)
    assert metrics.eer(s, dev.y) == rows[-1]["dev_eer"]
    head.save(tmp_path)
    np.testing.assert_array_equal(HEADS.get("gmm").load(tmp_path).decision_function(dev), s)
    assert head.n_parameters()["total"] == 2 * (4 + 2 * 4 * 8)


# ---------------------------------------------------------------- top-k fine-tuning

class StandIn(nn.Module):
    """Two tiny transformer layers with the encoder's top_layers interface."""

    def __init__(self, d=8, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.layers = nn.ModuleList(nn.TransformerEncoderLayer(d, 2, 16, dropout=0.0, batch_first=True)
                                    for _ in range(2))

    def forward(self, x, mask):
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=~mask)
        return x


def test_topk_trains_top_layers_and_round_trips(tmp_path):
    train, dev = frames(n=40), frames(n=20, seed=1)
    top = StandIn()
    before = {k: v.clone() for k, v in top.state_dict().items()}
    spec = {"hidden": [8], "epochs": 2, "batch_size": 8}
    head = TopKHead(top=top, **spec).fit(train, dev=dev)
    assert any(not torch.equal(before[k], v) for k, v in head.module_.top.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in top.state_dict().items())  # caller's copy untouched
    s = head.decision_function(dev)
    n_top = sum(p.numel() for p in top.parameters())
    assert head.n_parameters()["trainable"] > n_top
    # refitting starts from the pretrained weights again: same seed, same scores
    assert np.array_equal(TopKHead(top=top, **spec).fit(train, dev=dev).decision_function(dev), s)
    assert np.array_equal(head.fit(train, dev=dev).decision_function(dev), s)
    head.save(tmp_path)
    loaded = TopKHead.load(tmp_path, top=StandIn(seed=5))  # other init: weights must come from the file
    np.testing.assert_array_equal(loaded.decision_function(dev), s)
    with pytest.raises(ValueError, match="top="):
        TopKHead.load(tmp_path)


# ---------------------------------------------------------------- progress, speed paths, seed independence

def test_torch_heads_log_one_line_per_epoch(caplog):
    train, dev = frames(), frames(seed=1)
    with caplog.at_level("INFO", logger="scaa.train"):
        _, rows = fit({"type": "lcnn", "channels": [4, 8], "embedding_dim": 8, "epochs": 3, "batch_size": 8},
                      train, dev)
    lines = [r.getMessage() for r in caplog.records if " epoch " in r.getMessage()]
    assert len(lines) == len(rows) == 3  # patience 5 > 3 epochs: all run
    for i, line in enumerate(lines, 1):
        assert f"lcnn head epoch {i}/3: train loss" in line and "dev EER" in line and "best" in line
        assert " s, ETA <= " in line
    assert lines[-1].endswith("ETA <= 0m00s")


def test_train_precision_is_checked_recorded_and_float32_on_request(tmp_path):
    with pytest.raises(ValueError, match="train_precision"):
        HEADS.build({"type": "lcnn", "train_precision": "fp8"}).check_params()
    train, dev = frames(), frames(seed=1)
    spec = {"type": "lcnn", "channels": [4, 8], "embedding_dim": 8, "epochs": 2, "batch_size": 8,
            "train_precision": "float32"}
    head, _ = fit(spec, train, dev)
    assert head.train_precision_ == "float32"
    head.save(tmp_path)
    assert HEADS.get("lcnn").load(tmp_path).train_precision_ == "float32"
    bf16, _ = fit({**spec, "train_precision": "bfloat16"}, train, dev)
    assert bf16.train_precision_ == "bfloat16" and np.isfinite(bf16.decision_function(dev)).all()


def test_mfm_gradient_matches_torch_maximum():
    from scaa.heads.lcnn import MFM

    x = torch.randn(3, 8, 5, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, 5, 4, dtype=torch.float64)
    (MFM()(x) * w).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    a, b = x.chunk(2, dim=1)
    (torch.maximum(a, b) * w).sum().backward()
    torch.testing.assert_close(ours, x.grad)  # random data: no ties, where the two may split differently


def test_frame_scoring_batches_cover_every_clip_within_the_frame_budget(monkeypatch):
    from scaa.heads import torch_base, torch_data

    monkeypatch.setattr(torch_base, "EVAL_FRAMES", 100)
    head = HEADS.build({"type": "attn", "eval_batch_size": 4})
    data = torch_data.BatchData(frames(n=30), None, None)
    batches = head._score_batches(data)
    assert sorted(np.concatenate(batches).tolist()) == list(range(30))
    for b in batches:
        assert len(b) <= 4 and (len(b) == 1 or len(b) * data.lengths[b].max() <= 100)


@pytest.mark.parametrize("spec, data", [({"type": "logreg", "C": [0.1, 1.0], "folds": 3}, "pooled"),
                                        ({"type": "svm"}, "pooled"),
                                        ({"type": "gmm", "n_components": 2, "max_iter": 20, "init_seed": 4}, "frames")])
def test_heads_that_declare_seed_independence_ignore_the_seed(spec, data):
    cls = HEADS.get(spec["type"])
    assert cls.seed_independent({k: v for k, v in spec.items() if k != "type"})
    train, dev = (pooled(), pooled(seed=1)) if data == "pooled" else (frames(), frames(seed=1))
    a = HEADS.build({**spec, "random_state": 0}).fit(train, dev=dev).decision_function(dev.X)
    b = HEADS.build({**spec, "random_state": 7}).fit(train, dev=dev).decision_function(dev.X)
    np.testing.assert_array_equal(a, b)


def test_seed_dependent_settings_do_not_claim_independence():
    assert not HEADS.get("logreg").seed_independent({"cv_seed": None})
    assert not HEADS.get("svm").seed_independent({"max_train": 100})
    assert not HEADS.get("gmm").seed_independent({})
    assert not any(HEADS.get(h).seed_independent({}) for h in ("mlp", "attn", "lcnn"))
    train, dev = frames(), frames(seed=1)
    gmm = {"type": "gmm", "n_components": 4, "max_iter": 5}
    a = HEADS.build({**gmm, "random_state": 0}).fit(train, dev=dev).decision_function(dev)
    b = HEADS.build({**gmm, "random_state": 7}).fit(train, dev=dev).decision_function(dev)
    assert not np.array_equal(a, b)  # the EM initialisation follows the seed
