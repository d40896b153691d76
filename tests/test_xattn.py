"""The two-view cross-attention head: learns, round-trips, and its contrastive term is optional."""
import numpy as np
import pytest
import torch

from scaa.featstore import Features
from scaa.plan.grid import why_not, Cell
from scaa.heads.xattn import XAttnHead
from scaa.registry import ENCODERS, HEADS


def frames(n, seed, dim=30, split=18):
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i in range(n):
        T = int(rng.integers(20, 90))
        f = rng.standard_normal((T, dim)).astype(np.float32)
        f[:, split + 2] += 1.0 * (i % 2)  # the cue lives in the second view only
        X.append(f)
        y.append(i % 2)
    return Features(np.arange(n).astype(str), X, "frames", np.array(y))


def test_xattn_learns_round_trips_and_logs_both_terms(tmp_path):
    torch.set_num_threads(1)
    tr, dv = frames(120, 0), frames(60, 1)
    head = HEADS.build({"type": "xattn", "split": 18, "d_model": 16, "heads": 2, "time_pool": 2, "epochs": 6,
                        "patience": 6, "lr": 0.005, "loss": {"type": "ce"}})
    log = []
    head.fit(tr, dev=dv, log=log.append)
    assert {"train_ce", "train_cross_view"} <= set(log[0])
    s = head.decision_function(dv.X)
    from scaa import metrics
    assert metrics.eer(s, dv.y) < 0.25
    head.save(tmp_path)
    again = XAttnHead.load(tmp_path)
    assert np.allclose(again.decision_function(dv.X), s, atol=1e-5)
    assert head.n_parameters()["total"] > 0


def test_weight_zero_is_plain_ce_and_same_seed_same_scores():
    tr, dv = frames(60, 2), frames(30, 3)
    spec = {"type": "xattn", "split": 18, "d_model": 16, "heads": 2, "epochs": 2, "patience": 2,
            "contrastive_weight": 0.0, "random_state": 1}
    a, b = HEADS.build(spec), HEADS.build(spec)
    la, lb = [], []
    a.fit(tr, dev=dv, log=la.append)
    b.fit(tr, dev=dv, log=lb.append)
    assert np.array_equal(a.decision_function(dv.X), b.decision_function(dv.X))
    assert la[0]["train_loss"] == pytest.approx(la[0]["train_ce"])


def test_split_must_cut_the_features_and_the_grid_pairs_it_with_frames():
    with pytest.raises(ValueError, match="split"):
        HEADS.build({"type": "xattn", "split": 30, "epochs": 1}).fit(frames(10, 0))
    enc = ENCODERS.build({"type": "spectral", "output": "frames", "frame_mel": 40})
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    assert enc.encode([x])[0].shape[1] == 60 + 40
    cfg = {"encoders": {"pooled": {"type": "spectral"}, "fr": {"type": "spectral", "output": "frames"}},
           "views": {"none": {"type": "none"}}, "losses": {"ce": {"type": "ce"}, "scl": {"type": "spectral_contrastive"}},
           "heads": {"x": {"type": "xattn"}}, "ablation": {}}
    assert "needs frames" in why_not(cfg, Cell("d", "pooled", "none", "ce", "x", "frozen", 0))
    assert why_not(cfg, Cell("d", "fr", "none", "ce", "x", "frozen", 0)) is None
