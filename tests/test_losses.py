"""Losses on tiny cases whose values can be worked out by hand."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scaa.heads.losses import spectral_contrastive_loss, supcon_loss
from scaa.registry import LOSSES


def build(spec, counts=(3, 1), emb=4):
    loss = LOSSES.build(spec)
    loss.setup(list(counts), emb)
    return loss


def test_registered():
    for name in ("ce", "ocsoftmax", "spectral_contrastive", "ntxent", "supcon", "oc_supcon"):
        assert name in LOSSES
    assert LOSSES.get("ce").needs_views == 1 and LOSSES.get("supcon").needs_views == 2
    assert LOSSES.get("ntxent").uses_projection and not LOSSES.get("ocsoftmax").uses_projection


def test_ce_balanced_weights_by_hand():
    # counts 3 bona fide / 1 spoof -> weights 4/6 and 4/2
    loss = build({"type": "ce"}, counts=(3, 1))
    logits, y = torch.tensor([0.0, 2.0]), torch.tensor([0, 1])
    l0, l1 = math.log(2), math.log1p(math.exp(-2.0))
    w0, w1 = 4 / 6, 2.0
    total, parts = loss({"logits": logits}, y)
    assert total.item() == pytest.approx((w0 * l0 + w1 * l1) / (w0 + w1), rel=1e-6)
    unweighted, _ = build({"type": "ce", "class_weight": None})({"logits": logits}, y)
    assert unweighted.item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    assert set(parts) == {"ce"}


def test_ce_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        build({"type": "ce"}, counts=(5, 0))


def test_ocsoftmax_value_score_and_gradient():
    torch.manual_seed(0)
    loss = build({"type": "ocsoftmax"}, emb=2)
    with torch.no_grad():
        loss.centre.copy_(torch.tensor([1.0, 0.0]))
    emb = torch.tensor([[2.0, 0.0], [0.0, 3.0]], requires_grad=True)  # cos 1 (on centre), cos 0
    out = {"embedding": emb, "logits": torch.zeros(2)}
    total, _ = loss(out, torch.tensor([0, 1]))
    # bona fide: softplus(20 (0.9 - 1)); spoof: softplus(20 (0 - 0.2))
    expect = (F.softplus(torch.tensor(-2.0)) + F.softplus(torch.tensor(-4.0))).item() / 2
    assert total.item() == pytest.approx(expect, rel=1e-6)
    score = loss.score(out)
    assert score[0] < score[1]  # the clip on the bona fide centre scores as less spoof-like
    assert score.tolist() == pytest.approx([-1.0, 0.0])
    total.backward()
    assert emb.grad.abs().sum() > 0


def test_spectral_contrastive_identical_orthonormal_views():
    z = torch.eye(4)
    # positives all 1 -> -2; all off-diagonal products 0 -> 0
    assert spectral_contrastive_loss(z, z).item() == pytest.approx(-2.0)
    same = F.normalize(torch.ones(4, 3), dim=1)
    # every pair has product 1: -2 + 1
    assert spectral_contrastive_loss(same, same).item() == pytest.approx(-1.0)
    loss = build({"type": "spectral_contrastive", "weight": 0.5})
    out = {"logits": torch.zeros(4), "embedding": torch.zeros(4, 4), "z": torch.stack([z, z])}
    total, parts = loss(out, torch.tensor([0, 0, 1, 1]))
    assert parts["contrastive"].item() == pytest.approx(-2.0)
    assert total.item() == pytest.approx(parts["classifier"].item() - 1.0)


def _supcon_reference(z, pos_fn, tau):
    """Loop version of Khosla's L_out over view-major anchors."""
    V, B, _ = z.shape
    f = z.reshape(V * B, -1).numpy().astype(np.float64)
    clip = np.tile(np.arange(B), V)
    losses = []
    for i in range(V * B):
        den = sum(math.exp(f[i] @ f[a] / tau) for a in range(V * B) if a != i)
        pos = [p for p in range(V * B) if p != i and (clip[p] == clip[i] or pos_fn(clip[i], clip[p]))]
        losses.append(-np.mean([math.log(math.exp(f[i] @ f[p] / tau) / den) for p in pos]))
    return float(np.mean(losses))


def test_supcon_ntxent_oc_supcon_match_loop_reference():
    torch.manual_seed(1)
    z = F.normalize(torch.randn(2, 5, 3), dim=-1)
    y = torch.tensor([0, 1, 0, 1, 0])
    yl = y.tolist()
    tau = 0.5
    cases = {
        "ntxent": lambda a, b: False,
        "supcon": lambda a, b: yl[a] == yl[b],
        "oc_supcon": lambda a, b: yl[a] == 0 and yl[b] == 0,
    }
    for name, fn in cases.items():
        loss = build({"type": name, "temperature": tau})
        got = loss.contrastive(z, y).item()
        assert got == pytest.approx(_supcon_reference(z, fn, tau), rel=1e-5), name
    view_only = build({"type": "supcon", "temperature": tau, "positives": "view"}).contrastive(z, y).item()
    assert view_only == pytest.approx(_supcon_reference(z, cases["ntxent"], tau), rel=1e-5)


def test_ntxent_two_clips_by_hand():
    # clips a, b; views identical; a ⟂ b. Anchor similarity to its positive 1, to the two others 0.
    z = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]] * 2)
    tau = 1.0
    expect = -math.log(math.e / (math.e + 2))
    assert supcon_loss(z, None, tau).item() == pytest.approx(expect, rel=1e-6)


def test_supcon_decreases_when_positives_align():
    y = torch.tensor([0, 0, 1, 1])
    loss = build({"type": "supcon", "temperature": 0.1})
    torch.manual_seed(0)
    scattered = F.normalize(torch.randn(2, 4, 8), dim=-1)
    centres = F.normalize(torch.randn(2, 8), dim=-1)
    aligned = centres[y].expand(2, 4, 8) + 0.05 * scattered
    aligned = F.normalize(aligned, dim=-1)
    assert loss.contrastive(aligned, y) < loss.contrastive(scattered, y)


def test_oc_supcon_only_bona_fide_share_positives():
    # two spoofs lying on top of each other are penalised by oc_supcon (they are negatives),
    # but rewarded by class supcon
    y = torch.tensor([0, 0, 1, 1])
    base = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0]])
    apart = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    z_tog, z_apart = torch.stack([base, base]), torch.stack([apart, apart])
    oc = build({"type": "oc_supcon", "temperature": 0.5})
    sc = build({"type": "supcon", "temperature": 0.5})
    assert oc.contrastive(z_apart, y) < oc.contrastive(z_tog, y)
    assert sc.contrastive(z_tog, y) < sc.contrastive(z_apart, y)


@pytest.mark.parametrize("name", ["spectral_contrastive", "ntxent", "supcon", "oc_supcon"])
def test_contrastive_gradient_and_lambda_zero_equals_ce(name):
    torch.manual_seed(0)
    logits = torch.randn(6, requires_grad=True)
    zraw = torch.randn(2, 6, 5, requires_grad=True)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    out = {"logits": logits, "embedding": torch.randn(6, 4), "z": F.normalize(zraw, dim=-1)}
    total, parts = build({"type": name, "weight": 0.7})(out, y)
    total.backward()
    assert zraw.grad.abs().sum() > 0 and logits.grad.abs().sum() > 0
    ce, _ = build("ce")(out, y)
    zero, parts0 = build({"type": name, "weight": 0.0})(out, y)
    assert zero.item() == ce.item()
    assert torch.isfinite(parts0["contrastive"])
    assert total.item() == pytest.approx(ce.item() + 0.7 * parts["contrastive"].item(), rel=1e-5)


def test_contrastive_with_ocsoftmax_classifier_scores_like_ocsoftmax():
    loss = build({"type": "supcon", "classifier": {"type": "ocsoftmax"}}, emb=3)
    out = {"embedding": torch.randn(4, 3), "logits": torch.zeros(4)}
    assert torch.allclose(loss.score(out), loss.classifier.score(out))
    assert loss.state_dict()["classifier.centre"].shape == (3,)


def test_bad_specs_are_clear():
    with pytest.raises(Exception, match="positives"):
        LOSSES.build({"type": "supcon", "positives": "speaker"})
    with pytest.raises(Exception, match="single-view"):
        LOSSES.build({"type": "supcon", "classifier": "ntxent"})
    with pytest.raises(ValueError, match=r"V>=2"):
        build("ntxent")({"logits": torch.zeros(2), "z": torch.zeros(1, 2, 3)}, torch.tensor([0, 1]))
