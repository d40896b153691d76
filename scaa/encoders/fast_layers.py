"""A leaner bfloat16 forward for frozen wav2vec2 / HuBERT transformer layers on CPU.

Same arithmetic as transformers' ``Wav2Vec2EncoderLayer`` (and its "stable layer norm"
and HuBERT twins) in inference, with three changes that matter at one thread:

- the query, key and value projections are one [3D x D] matmul instead of three;
- every weight is reordered once into oneDNN's blocked layout
  (:class:`scaa.encoders.fused_ops.PackedLinear`) instead of on every call;
- the feed-forward GELU runs inside the first feed-forward matmul.

``bench/profile_ssl.py`` measures the gain per layer. Whisper's encoder layer is the same
pre-norm computation under other names (and without a key bias) and gets the same
treatment. Built only for bfloat16 encoders whose layers have exactly this structure; anything else (WavLM's
gated relative position bias, adapter layers, other activations, builds without oneDNN)
keeps transformers' own layer. ``tests/test_fast_paths.py`` compares the two.
"""
from __future__ import annotations

from scaa.encoders.fused_ops import PackedLinear, is_exact_gelu


def _torch():
    import torch

    return torch


def fast_layers(layers, dtype) -> list | None:
    """One :class:`FastEncoderLayer` per transformers layer, or None if any cannot be built."""
    torch = _torch()
    if dtype != torch.bfloat16:
        return None
    out = []
    for layer in layers:
        fast = FastEncoderLayer.build(layer)
        if fast is None:
            return None
        out.append(fast)
    return out


class FastEncoderLayer:
    """``(hidden [B, T, D], attention mask or None) -> hidden [B, T, D]`` for one frozen layer."""

    @classmethod
    def build(cls, layer):
        torch = _torch()
        name = type(layer).__name__
        if name == "WhisperEncoderLayer":
            return cls._build_whisper(layer)
        if name not in ("Wav2Vec2EncoderLayer", "Wav2Vec2EncoderLayerStableLayerNorm",
                        "HubertEncoderLayer", "HubertEncoderLayerStableLayerNorm"):
            return None
        if getattr(layer, "adapter_layer", None) is not None:
            return None
        ff, attn = layer.feed_forward, layer.attention
        if not is_exact_gelu(ff.intermediate_act_fn):
            return None
        projections = (attn.q_proj, attn.k_proj, attn.v_proj)
        if any(p.bias is None for p in projections):
            return None
        qkv = PackedLinear.build(torch.cat([p.weight for p in projections]),
                                 torch.cat([p.bias for p in projections]))
        out_proj = PackedLinear.build(attn.out_proj.weight, attn.out_proj.bias)
        ff_in = PackedLinear.build(ff.intermediate_dense.weight, ff.intermediate_dense.bias)
        ff_out = PackedLinear.build(ff.output_dense.weight, ff.output_dense.bias)
        if None in (qkv, out_proj, ff_in, ff_out):
            return None
        return cls(qkv, out_proj, ff_in, ff_out, layer.layer_norm, layer.final_layer_norm,
                   stable="StableLayerNorm" in name, heads=attn.num_heads, scaling=attn.scaling)

    @classmethod
    def _build_whisper(cls, layer):
        """Whisper's pre-norm layer (``self_attn``, ``fc1``/``fc2``); its key projection has no
        bias, so the fused projection gets zeros there."""
        torch = _torch()
        attn = layer.self_attn
        if not is_exact_gelu(layer.activation_fn) or attn.q_proj.bias is None or attn.v_proj.bias is None:
            return None
        if attn.k_proj.bias is not None:
            return None
        zeros = torch.zeros_like(attn.q_proj.bias)
        qkv = PackedLinear.build(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]),
                                 torch.cat([attn.q_proj.bias, zeros, attn.v_proj.bias]))
        out_proj = PackedLinear.build(attn.out_proj.weight, attn.out_proj.bias)
        ff_in = PackedLinear.build(layer.fc1.weight, layer.fc1.bias)
        ff_out = PackedLinear.build(layer.fc2.weight, layer.fc2.bias)
        if None in (qkv, out_proj, ff_in, ff_out):
            return None
        return cls(qkv, out_proj, ff_in, ff_out, layer.self_attn_layer_norm, layer.final_layer_norm,
                   stable=True, heads=attn.num_heads, scaling=attn.scaling)

    def __init__(self, qkv, out_proj, ff_in, ff_out, norm, final_norm, stable, heads, scaling):
        self.qkv, self.out_proj, self.ff_in, self.ff_out = qkv, out_proj, ff_in, ff_out
        self.norm, self.final_norm = norm, final_norm
        self.stable, self.heads, self.scaling = stable, int(heads), float(scaling)

    def _attention(self, x, mask):
        torch = _torch()
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if mask is not None and mask.dtype != torch.bool and mask.dtype != q.dtype:
            mask = mask.to(q.dtype)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scaling)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d))

    def _feed_forward(self, x):
        return self.ff_out(self.ff_in(x, gelu=True))

    def __call__(self, hidden, mask=None):
        if self.stable:  # pre-norm: x + attn(norm(x)), then x + ff(norm(x))
            hidden = hidden + self._attention(self.norm(hidden), mask)
            return hidden + self._feed_forward(self.final_norm(hidden))
        hidden = self.norm(hidden + self._attention(hidden, mask))  # post-norm (base models)
        return self.final_norm(hidden + self._feed_forward(hidden))
