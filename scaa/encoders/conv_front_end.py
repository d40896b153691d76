"""A faster CPU forward for the convolutional feature encoder of wav2vec2 / HuBERT / WavLM.

Same arithmetic as transformers' ``feature_extractor``, laid out for oneDNN on CPU:

- the first layer has one input channel, which oneDNN's conv1d handles badly (slow for
  the few multiply-adds it does, worst in bfloat16); here it is a framing + matmul.
  When its norm is the per-channel GroupNorm of the base models, the norm is folded into
  that matmul: the conv is linear, so each channel's mean and variance over time follow
  from the 10 x 10 covariance of the frames (computed in float64), and normalising
  becomes a per-clip rescaling of the weights. One fused matmul + GELU then writes the
  [batch, time, channel] output in the encoder's dtype, instead of a float32 matmul, a
  GroupNorm pass, a GELU pass, a cast and a transpose over the largest activation of the
  network (timings: bench/results/profile_ssl.md). Other norms keep the float32 matmul + norm;
- in bfloat16 the other layers run as 2-d convolutions on channels-last tensors (the
  activations stay [batch, time, channel] in memory), which lets oneDNN use the CPU's
  AMX / AVX512-BF16 kernels, faster than conv1d at 1 thread. In float32 plain conv1d is
  faster, so that path keeps transformers' [batch, channel, time] layout.

``bench/bench_features.py`` measures the effect; ``tests/test_encoders_ssl.py`` checks the
output against transformers' module. Weights are read from the model once, at build time.
"""
from __future__ import annotations

from scaa.encoders.fused_ops import is_exact_gelu, linear


def _torch():
    import torch

    return torch


class ConvFrontEnd:
    """Callable ``waves [B, L] -> features [B, T, C]`` (contiguous, in ``dtype``)."""

    def __init__(self, feature_extractor, dtype):
        torch = _torch()
        self.dtype = dtype
        # channels-last 2-d convolutions pay off in bfloat16 (AMX / AVX512-BF16 kernels);
        # in float32 oneDNN's plain conv1d is faster here, so keep transformers' layout
        self.channels_last = dtype == torch.bfloat16
        self.layers = []
        for i, layer in enumerate(feature_extractor.conv_layers):
            conv = layer.conv
            k, s = int(conv.kernel_size[0]), int(conv.stride[0])
            norm = getattr(layer, "layer_norm", None)
            if norm is not None and not isinstance(norm, (torch.nn.GroupNorm, torch.nn.LayerNorm)):
                raise TypeError(f"unsupported norm {type(norm).__name__} in conv layer {i}")
            first = i == 0
            if first and conv.in_channels != 1:
                raise TypeError("the first conv layer must have one input channel")
            w = conv.weight.detach()
            fold = first and isinstance(norm, torch.nn.GroupNorm) and norm.num_groups == conv.out_channels
            if first:
                weight = w.reshape(w.shape[0], k).float().contiguous()  # [C, k]
            elif self.channels_last:  # [C_out, C_in, 1, k] channels-last
                weight = w.unsqueeze(2).to(dtype).contiguous(memory_format=torch.channels_last)
            else:
                weight = w.to(dtype).contiguous()
            bias = None if conv.bias is None else conv.bias.detach().to(torch.float32 if first else dtype)
            self.layers.append({"first": first, "kernel": k, "stride": s, "weight": weight, "bias": bias,
                                "norm": norm, "activation": layer.activation, "fold": fold,
                                "gelu": is_exact_gelu(layer.activation)})

    def __call__(self, waves):
        """Clip by clip: each clip has thousands of frames, enough to keep the kernels busy,
        and only the small final [T, C] features are stacked, never the big early
        activations (stacking costs a full copy of them)."""
        torch = _torch()
        if waves.shape[0] > 1:
            return torch.cat([self._forward(waves[b:b + 1]) for b in range(waves.shape[0])])
        return self._forward(waves)

    def _forward(self, waves):
        torch = _torch()
        F = torch.nn.functional
        h, layout = None, None
        for spec in self.layers:
            norm = spec["norm"]
            if spec["fold"]:
                h, layout = self._first_layer_folded(waves, spec), "BTC"
                continue
            if spec["first"]:
                frames = waves.float().unfold(1, spec["kernel"], spec["stride"])  # [B, T, k]
                if isinstance(norm, torch.nn.GroupNorm):  # normalises over time: keep time last
                    h, layout = torch.matmul(spec["weight"], frames.transpose(1, 2)), "BCT"
                    if spec["bias"] is not None:
                        h = h + spec["bias"][:, None]
                else:
                    b, t, k = frames.shape
                    h = linear(frames.reshape(b * t, k).contiguous(), spec["weight"], spec["bias"])
                    h, layout = h.reshape(b, t, -1), "BTC"
            elif self.channels_last:
                h, layout = _relayout(h, layout, "BTC"), "BTC"
                x = h.permute(0, 2, 1).unsqueeze(2)  # [B, C, 1, T], channels-last in memory
                y = F.conv2d(x, spec["weight"], spec["bias"], stride=(1, spec["stride"]))
                h = y.squeeze(2).permute(0, 2, 1)  # [B, T, C], contiguous in memory
            else:
                h, layout = F.conv1d(_relayout(h, layout, "BCT"), spec["weight"], spec["bias"],
                                     stride=spec["stride"]), "BCT"
            if isinstance(norm, torch.nn.GroupNorm):
                h, layout = _relayout(h, layout, "BCT"), "BCT"
                h = F.group_norm(h, norm.num_groups, _cast(norm.weight, h), _cast(norm.bias, h), norm.eps)
            elif isinstance(norm, torch.nn.LayerNorm):
                h, layout = _relayout(h, layout, "BTC"), "BTC"
                h = F.layer_norm(h, norm.normalized_shape, _cast(norm.weight, h), _cast(norm.bias, h), norm.eps)
            h = spec["activation"](h)
            if spec["first"]:
                h = h.to(self.dtype)
        return _relayout(h, layout, "BTC")

    def _first_layer_folded(self, waves, spec):
        """conv (1 -> C channels) + per-channel GroupNorm + activation as one matmul per clip.

        GroupNorm normalises channel c over time: (y_c - mean_c) / sqrt(var_c + eps) with
        y_c = w_c . f_t + b_c. Over the clip's frames f_t (mean mu, covariance S):
        mean_c = w_c . mu + b_c and var_c = w_c^T S w_c, so the normalised output is
        f_t . w'_c + b'_c with w'_c = gamma_c w_c / sqrt(var_c + eps) and
        b'_c = beta_c - w'_c . mu (the conv bias cancels). Padding frames count, as in
        transformers, because they are frames of the padded input.
        """
        torch = _torch()
        norm = spec["norm"]
        frames = waves.float().unfold(1, spec["kernel"], spec["stride"])  # [B, T, k]
        f64 = frames.double()
        mu = f64.mean(1)  # [B, k]
        centred = f64 - mu[:, None, :]
        cov = centred.transpose(1, 2) @ centred / frames.shape[1]  # [B, k, k]
        w = spec["weight"].double()  # [C, k]
        var = torch.einsum("ck,bkl,cl->bc", w, cov, w)
        gamma = norm.weight.detach().double() if norm.weight is not None else torch.ones_like(var[0])
        beta = norm.bias.detach().double() if norm.bias is not None else torch.zeros_like(var[0])
        scaled = w[None] * (gamma / torch.sqrt(var + norm.eps))[..., None]  # [B, C, k]
        shift = beta - (scaled @ mu[..., None])[..., 0]  # [B, C]
        outs = []
        for b in range(frames.shape[0]):
            x = frames[b].to(self.dtype).contiguous()
            y = linear(x, scaled[b].to(self.dtype), shift[b].to(self.dtype), gelu=spec["gelu"])
            outs.append(y if spec["gelu"] else spec["activation"](y))
        return outs[0][None] if len(outs) == 1 else torch.stack(outs)


def _relayout(h, layout, target):
    """[B, C, T] <-> [B, T, C], materialised so the next kernel reads contiguous memory."""
    return h if layout == target else h.transpose(1, 2).contiguous()


def _cast(param, like):
    return None if param is None else param.detach().to(like.dtype)
