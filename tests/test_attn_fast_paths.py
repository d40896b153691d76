"""The attn head's fast paths compute what the plain modules they replace compute, and
frame batches standardise padding to exactly zero."""
import numpy as np
import pytest
import torch

from scaa.allocator import keep_freed_memory
from scaa.featstore import Features
from scaa.heads.attn import AttnNet, attentive_stats, masked_stats
from scaa.heads.torch_data import BatchData as _Data


def _frames(lengths, dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    x = torch.randn(len(lengths), T, dim, generator=g, dtype=torch.float64)
    mask = torch.arange(T)[None] < torch.tensor(lengths)[:, None]
    return x * mask[..., None], mask


def test_frame_scores_equal_the_tanh_attention_forward_and_backward():
    torch.manual_seed(0)
    net = AttnNet(7, attn_dim=5).double()
    x, _ = _frames([9, 4, 6], 7)
    plain = net.attention(x).squeeze(-1)
    grads_plain = torch.autograd.grad(plain.square().sum(), list(net.attention.parameters()))
    fast = net.frame_scores(x)
    grads_fast = torch.autograd.grad(fast.square().sum(), list(net.attention.parameters()))
    torch.testing.assert_close(fast, plain, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads_fast, grads_plain):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("onednn", [True, False])
def test_bf16_frame_scores_and_gradients_follow_the_tanh_attention(monkeypatch, onednn):
    """Under bf16 autocast the frame scores run in a custom autograd function (oneDNN's fused
    linear + sigmoid where available, else the plain ops): values and gradients, the input's
    included, are those of the float64 tanh module within bfloat16 rounding."""
    from scaa.heads import attn

    if onednn and not attn._onednn_bf16():
        pytest.skip("this torch build has no oneDNN bf16 linear")
    monkeypatch.setattr(attn, "_onednn_bf16", lambda: onednn)
    torch.manual_seed(0)
    net = AttnNet(12, attn_dim=32)
    ref = AttnNet(12, attn_dim=32).double()
    ref.load_state_dict(net.state_dict())
    x, _ = _frames([40, 17, 33], 12, seed=3)
    g = torch.randn(x.shape[:2], generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    xd = x.clone().requires_grad_(True)
    plain = ref.attention(xd).squeeze(-1)
    want = torch.autograd.grad((plain * g).sum(), [xd, *ref.attention.parameters()])
    xf = x.float().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = net.frame_scores(xf)
    assert fast.dtype == torch.float32
    got = torch.autograd.grad((fast * g.float()).sum(), [xf, *net.attention.parameters()])
    torch.testing.assert_close(fast.double(), plain.detach(), rtol=0, atol=0.02 * float(plain.detach().abs().max()))
    for a, b in zip(got, want):
        rel = float((a.double() - b).norm() / b.norm().clamp_min(1e-12))
        assert rel < 0.02, rel  # bf16 keeps about 3 significant digits


def test_attentive_stats_equal_masked_stats_with_gradients():
    x, mask = _frames([8, 3, 5], 4, seed=1)
    e = torch.randn(3, 8, dtype=torch.float64).masked_fill(~mask, float("-inf")).requires_grad_(True)
    w = torch.softmax(e, dim=1)
    a = attentive_stats(x, w)
    (ga,) = torch.autograd.grad((a * torch.arange(8.0, dtype=torch.float64)).sum(), e, retain_graph=True)
    b = masked_stats(x, w)
    (gb,) = torch.autograd.grad((b * torch.arange(8.0, dtype=torch.float64)).sum(), e)
    assert a.dtype == torch.float32  # the statistics run in float32 even from float64 or bf16 input
    torch.testing.assert_close(a, b.float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ga.float(), gb.float(), rtol=1e-4, atol=1e-5)


def test_attentive_stats_stay_float32_under_bf16_autocast():
    x, mask = _frames([6, 6], 3)
    x = (x.float() + 100.0) * mask[..., None]  # a large mean: E[x²] − mu² in bf16 would be noise
    w = mask.float() / mask.float().sum(1, keepdim=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a = attentive_stats(x, w)
    torch.testing.assert_close(a, masked_stats(x, w), rtol=1e-4, atol=1e-3)


def test_collated_padding_standardises_to_zero_and_rounds_up():
    rng = np.random.default_rng(0)
    frames = [rng.normal(3.0, 2.0, (n, 4)).astype(np.float32) for n in (5, 11, 2)]
    feats = Features(np.array(["a", "b", "c"]), frames, "frames")
    mean, std = np.full(4, 3.0, np.float32), np.full(4, 2.0, np.float32)
    for pad_to, T in ((1, 11), (8, 16)):
        x, mask = _Data(feats, mean, std, pad_to=pad_to).collate(np.arange(3))
        assert x.shape == (3, T, 4) and mask.shape == (3, T)
        for b, a in enumerate(frames):
            assert mask[b].sum() == len(a) and bool(mask[b, :len(a)].all())
            np.testing.assert_array_equal(x[b, :len(a)].numpy(), ((torch.from_numpy(a) - 3.0) / 2.0).numpy())
            assert bool((x[b, len(a):] == 0).all())
    x, _ = _Data(feats, None, None).collate(np.arange(3))  # no standardisation: zero padding
    assert bool((x[2, 2:] == 0).all())


def test_allocator_tuning_is_idempotent():
    first = keep_freed_memory()
    assert isinstance(first, bool) and keep_freed_memory() is first
