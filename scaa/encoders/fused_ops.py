"""Linear layers with a fused activation, through oneDNN when this torch build has it.

``torch.ops.mkldnn._linear_pointwise`` is the kernel torch's own CPU compiler emits for
``linear -> gelu``: one pass over the output instead of two. For the inner-dimension-10
matmul of the SSL encoders' first conv layer it is also much faster than ``addmm`` in
float32 (MKL handles such a thin matrix badly). It is an internal op, so every call
falls back to plain ``addmm`` + activation when the op is missing or refuses the input
(CPUs without bfloat16 support, builds without oneDNN); the fallback computes the same
thing, and the tests compare both.
"""
from __future__ import annotations

_FUSED_OK: dict = {}  # (dtype, activation) -> whether the oneDNN op worked once


def _torch():
    import torch

    return torch


def is_exact_gelu(activation) -> bool:
    """True for torch's erf GELU (nn.GELU(), transformers' GELUActivation, F.gelu)."""
    torch = _torch()
    F = torch.nn.functional
    if activation is F.gelu:
        return True
    if isinstance(activation, torch.nn.GELU):
        return activation.approximate == "none"
    return getattr(activation, "act", None) is F.gelu  # transformers.activations.GELUActivation


def _onednn_linear(x, weight, bias, gelu: bool):
    """The oneDNN call itself; ``weight`` plain or packed by ``_reorder_linear_weight``."""
    torch = _torch()
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu" if gelu else "none", [],
                                              "none" if gelu else "")


def linear(x, weight, bias=None, gelu: bool = False, use_onednn: bool = True):
    """``gelu(x @ weight.T + bias)`` (or without the GELU) for a 2-d ``x``; fused when possible."""
    torch = _torch()
    key = (x.dtype, gelu)
    if use_onednn and _FUSED_OK.get(key, True) and torch.backends.mkldnn.is_available():
        if hasattr(torch.ops.mkldnn, "_linear_pointwise"):
            try:
                out = _onednn_linear(x, weight, bias, gelu)
                _FUSED_OK[key] = True
                return out
            except RuntimeError:
                _FUSED_OK[key] = False
    out = torch.addmm(bias, x, weight.t()) if bias is not None else x @ weight.t()
    return torch.nn.functional.gelu(out) if gelu else out


class PackedLinear:
    """A frozen bfloat16 linear layer whose weight oneDNN has reordered once, at build time,
    into its blocked layout (plain weights are reordered on every call): a few per cent
    faster for the transformer's [~200 frames x 768] matmuls (bench/results/profile_ssl.md). ``PackedLinear.build`` returns None when
    this torch build cannot do it, and callers keep the plain module then."""

    def __init__(self, packed, bias):
        self.packed, self.bias = packed, bias

    @classmethod
    def build(cls, weight, bias, rows_hint: int = 200):
        torch = _torch()
        if weight.dtype != torch.bfloat16 or not torch.backends.mkldnn.is_available():
            return None
        reorder = getattr(torch.ops.mkldnn, "_reorder_linear_weight", None)
        if reorder is None or not hasattr(torch.ops.mkldnn, "_linear_pointwise"):
            return None
        weight = weight.detach().contiguous()
        bias = None if bias is None else bias.detach().contiguous()
        try:
            packed = reorder(weight, rows_hint)
            probe = torch.ones(2, weight.shape[1], dtype=weight.dtype)
            got = _onednn_linear(probe, packed, bias, gelu=False)
        except RuntimeError:
            return None
        want = torch.nn.functional.linear(probe, weight, bias)
        if got.shape != want.shape or not torch.allclose(got.float(), want.float(), rtol=2e-2, atol=2e-2):
            return None
        return cls(packed, bias)

    def __call__(self, x, gelu: bool = False):
        return _onednn_linear(x, self.packed, self.bias, gelu)
