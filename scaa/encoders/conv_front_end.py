"""A faster CPU forward for the convolutional feature encoder of wav2vec2 / HuBERT / WavLM.

Same arithmetic as transformers' ``feature_extractor``, laid out for oneDNN on CPU:

- the first layer has one input channel, which oneDNN's conv1d handles badly (in bfloat16
  about 90 ms for a 4 s clip, for 65 M multiply-adds); here it is a framing + matmul in
  float32 (~5 ms), followed by its GroupNorm / LayerNorm and activation in float32;
- in bfloat16 the other layers run as 2-d convolutions on channels-last tensors (the
  activations stay [batch, time, channel] in memory), which lets oneDNN use the CPU's
  AMX / AVX512-BF16 kernels: about 2x faster than conv1d at 1 thread here. In float32
  plain conv1d is faster, so that path keeps transformers' [batch, channel, time] layout.

``bench/bench_features.py`` measures the effect; ``tests/test_encoders_ssl.py`` checks the
output against transformers' module. Weights are read from the model once, at build time.
"""
from __future__ import annotations


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
            if first:
                weight = w.reshape(w.shape[0], k).float().contiguous()  # [C, k]
            elif self.channels_last:  # [C_out, C_in, 1, k] channels-last
                weight = w.unsqueeze(2).to(dtype).contiguous(memory_format=torch.channels_last)
            else:
                weight = w.to(dtype).contiguous()
            bias = None if conv.bias is None else conv.bias.detach().to(torch.float32 if first else dtype)
            self.layers.append({"first": first, "kernel": k, "stride": s, "weight": weight, "bias": bias,
                                "norm": norm, "activation": layer.activation})

    def __call__(self, waves):
        torch = _torch()
        F = torch.nn.functional
        h, layout = None, None
        for spec in self.layers:
            norm = spec["norm"]
            if spec["first"]:
                frames = waves.float().unfold(1, spec["kernel"], spec["stride"])  # [B, T, k]
                if isinstance(norm, torch.nn.GroupNorm):  # normalises over time: keep time last
                    h, layout = torch.matmul(spec["weight"], frames.transpose(1, 2)), "BCT"
                    if spec["bias"] is not None:
                        h = h + spec["bias"][:, None]
                else:
                    h, layout = frames @ spec["weight"].t(), "BTC"
                    if spec["bias"] is not None:
                        h = h + spec["bias"]
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


def _relayout(h, layout, target):
    """[B, C, T] <-> [B, T, C], materialised so the next kernel reads contiguous memory."""
    return h if layout == target else h.transpose(1, 2).contiguous()


def _cast(param, like):
    return None if param is None else param.detach().to(like.dtype)
