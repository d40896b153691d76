"""The LCNN's fast paths give the same numbers as the plain computation they replace."""
import torch
import torch.nn.functional as F

from scaa.heads.lcnn import MFM, LCNNNet
from scaa.seeding import scoped_seed


def _batch(lengths, dim=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    x = torch.randn(len(lengths), T, dim, generator=g)
    mask = torch.arange(T)[None] < torch.tensor(lengths)[:, None]
    return x * mask[..., None], mask


def test_mfm_backward_in_channels_last_matches_torch_maximum():
    x = torch.randn(2, 8, 6, 5, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    w = torch.randn(2, 4, 6, 5, dtype=torch.float64)
    (MFM()(x) * w).sum().backward()
    ours = x.grad.clone()
    x.grad = None
    a, b = x.chunk(2, dim=1)
    (torch.maximum(a, b) * w).sum().backward()
    torch.testing.assert_close(ours, x.grad)


def test_padded_batch_matches_clips_alone_in_training_and_bf16():
    """Masking by multiplication (and no masking when a batch has no padding) keeps every
    clip's output independent of its batch, with gradients on, in float32 and under bf16."""
    torch.manual_seed(0)
    net = LCNNNet(12, channels=(4, 8, 8), embedding_dim=8, dropout=0.0).train()
    lengths = [37, 9, 22]
    x, mask = _batch(lengths)
    for bf16, tol in ((False, 1e-5), (True, 5e-2)):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            net.eval()  # batch norm from running statistics: rows do not interact
            together = net(x, mask)["logits"].float()
            alone = torch.cat([net(x[i:i + 1, :n], mask[i:i + 1, :n])["logits"].float()
                               for i, n in enumerate(lengths)])
        torch.testing.assert_close(together, alone, rtol=tol, atol=tol)
    net.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x, mask)["logits"]
    out.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_unpadded_fast_path_equals_masked_path():
    torch.manual_seed(0)
    net = LCNNNet(12, channels=(4, 8), embedding_dim=8).eval()
    x, mask = _batch([20, 20])
    fast = net(x, mask)["logits"]
    # the same clips with one padded frame appended take the masked path
    xp = F.pad(x, (0, 0, 0, 2))
    mp = F.pad(mask, (0, 2))
    torch.testing.assert_close(net(xp, mp)["logits"], fast, rtol=1e-5, atol=1e-6)


def test_seeding_keeps_deterministic_kernels_without_nan_filling():
    before = torch.utils.deterministic.fill_uninitialized_memory
    with scoped_seed(3):
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.utils.deterministic.fill_uninitialized_memory
    assert torch.utils.deterministic.fill_uninitialized_memory == before  # put back on exit


def test_every_convolution_runs_channels_last_in_float32_and_bf16():
    """One input channel makes [B, 1, T, F] ambiguous: unless its strides say NHWC, oneDNN
    runs the whole net in NCHW, about half as fast on CPU."""
    net = LCNNNet(12)
    seen = []
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(lambda mod, inp, out: seen.append(
                out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()))
    x, mask = _batch([9, 7, 5])
    for bf16 in (False, True):
        seen.clear()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            net(x, mask)
        assert seen and all(seen), (bf16, seen)


def _reference_forward(net, x, mask):
    """The LCNN in its textbook order (every layer, then push padding down, then pool)."""
    h = x.unsqueeze(1)
    m = mask[:, None, :, None].to(h.dtype)
    for stage in net.stages:
        for layer in stage[:-1]:
            h = layer(h) * m
        h = stage[-1](h)
        h = h.masked_fill(m == 0, torch.finfo(h.dtype).min)
        h = F.max_pool2d(h, 2, ceil_mode=True)
        m = F.max_pool2d(m, (2, 1), ceil_mode=True)
        h = h * m
    return h


def test_pooling_the_stem_before_its_max_feature_map_changes_no_value():
    torch.manual_seed(0)
    net = LCNNNet(12, channels=(4, 6, 8)).double().eval()
    for bn in net.modules():  # signed scales: batch norm then no longer commutes with a max
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.weight.data.normal_()
            bn.running_mean.normal_()
    x, mask = _batch([11, 8, 5])
    x = x.double()
    h, _ = net.feature_maps(x, mask)
    # equal up to rounding: the net runs its convolutions channels-last, the reference NCHW
    torch.testing.assert_close(h, _reference_forward(net, x, mask), rtol=0, atol=1e-12)
