"""The CPU fast paths of the SSL encoders compute what the plain code paths compute."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from scaa.encoders import fused_ops  # noqa: E402
from scaa.encoders.fast_layers import FastEncoderLayer, fast_layers  # noqa: E402
from scaa.encoders.ssl import HubertEncoder, Wav2Vec2Encoder, WavLMEncoder  # noqa: E402
from conftest import noise_waves, tiny_ssl  # noqa: E402

STABLE_LAYER = {"feat_extract_norm": "layer", "do_stable_layer_norm": True}
POST_NORM_LAYER = {"feat_extract_norm": "layer"}


def _waves():
    return noise_waves()


def _enc(cls=Wav2Vec2Encoder, extra=None, **kw):
    return tiny_ssl(cls, extra, **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("gelu", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_fused_linear_equals_plain_linear(dtype, gelu, with_bias):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 10, generator=g).to(dtype)
    w = torch.randn(37, 10, generator=g).to(dtype)
    b = torch.randn(37, generator=g).to(dtype) if with_bias else None
    fused = fused_ops.linear(x, w, b, gelu=gelu)
    plain = fused_ops.linear(x, w, b, gelu=gelu, use_onednn=False)
    want = torch.nn.functional.linear(x.float(), w.float(), None if b is None else b.float())
    want = torch.nn.functional.gelu(want) if gelu else want
    tol = 1e-5 if dtype == torch.float32 else 0.05
    assert fused.shape == (300, 37) and fused.dtype == dtype
    np.testing.assert_allclose(fused.float().numpy(), want.numpy(), atol=tol, rtol=tol)
    np.testing.assert_allclose(plain.float().numpy(), want.numpy(), atol=tol, rtol=tol)


def test_exact_gelu_detection():
    from transformers.activations import ACT2FN

    assert fused_ops.is_exact_gelu(ACT2FN["gelu"]) and fused_ops.is_exact_gelu(torch.nn.GELU())
    assert not fused_ops.is_exact_gelu(torch.nn.GELU(approximate="tanh"))
    assert not fused_ops.is_exact_gelu(ACT2FN["relu"]) and not fused_ops.is_exact_gelu(ACT2FN["gelu_new"])


def test_packed_linear_matches_linear_and_refuses_float32():
    g = torch.Generator().manual_seed(1)
    w, b = torch.randn(48, 32, generator=g), torch.randn(48, generator=g)
    assert fused_ops.PackedLinear.build(w, b) is None  # only bfloat16 is packed
    packed = fused_ops.PackedLinear.build(w.bfloat16(), b.bfloat16())
    if packed is None:
        pytest.skip("this torch build has no oneDNN bfloat16 linear")
    for rows in (1, 7, 250):  # any number of rows, 2-d or 3-d input
        x = torch.randn(2, rows, 32, generator=g).bfloat16()
        want = torch.nn.functional.linear(x.float(), w.bfloat16().float(), b.bfloat16().float())
        np.testing.assert_allclose(packed(x).float().numpy(), want.numpy(), atol=0.05, rtol=0.02)
        np.testing.assert_allclose(packed(x, gelu=True).float().numpy(),
                                   torch.nn.functional.gelu(want).numpy(), atol=0.05, rtol=0.02)


def test_group_norm_fold_is_used_for_base_models_only():
    assert _enc().front_end.layers[0]["fold"]  # per-channel GroupNorm: folded
    assert not _enc(extra=POST_NORM_LAYER).front_end.layers[0]["fold"]  # LayerNorm: not


def test_folded_first_layer_matches_group_norm_on_loud_offset_input():
    """The fold uses frame statistics; a DC offset and a loud clip must not break it."""
    enc = _enc()
    rng = np.random.default_rng(3)
    x = torch.from_numpy((5.0 + 3.0 * rng.standard_normal((2, 8000))).astype(np.float32))
    x[1, 5000:] = 0.0  # padding inside a batch
    with torch.inference_mode():
        ref = enc.model.feature_extractor(x).transpose(1, 2)
        ours = enc.front_end(x)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=2e-5, rtol=1e-4)


def _bf16_pair(cls, extra):
    fast = _enc(cls, extra, dtype="bfloat16", pooling="none")
    if fast.fast_layers is None:
        pytest.skip("this torch build has no oneDNN bfloat16 linear")
    plain = _enc(cls, extra, dtype="bfloat16", pooling="none")
    plain.fast_layers = None
    return fast, plain


@pytest.mark.parametrize("cls", [Wav2Vec2Encoder, HubertEncoder])
@pytest.mark.parametrize("extra", [{}, STABLE_LAYER, POST_NORM_LAYER])
def test_fast_bf16_layers_match_transformers_layers(cls, extra):
    fast, plain = _bf16_pair(cls, extra)
    waves = _waves()  # a padded batch; layer-norm models also get an attention mask
    with torch.inference_mode():
        got, mask = fast.hidden_states(waves)
        want, _ = plain.hidden_states(waves)
    assert len(got) == len(want) == fast.n_layers + 1
    for g, w in zip(got[1:], want[1:]):
        g, w = g[mask].float().numpy(), w[mask].float().numpy()
        assert np.corrcoef(g.ravel(), w.ravel())[0, 1] > 0.999
        assert np.abs(g - w).max() < 0.1 * max(1.0, np.abs(w).max())


def test_fast_layers_only_where_they_apply():
    assert _enc(dtype="bfloat16").fast_layers is not None or not torch.backends.mkldnn.is_available()
    assert _enc().fast_layers is None  # float32 keeps transformers' layers
    assert _enc(quantize="int8").fast_layers is None
    assert _enc(WavLMEncoder, dtype="bfloat16").fast_layers is None  # gated relative position bias
    layer = _enc(dtype="bfloat16").model.encoder.layers[0]
    layer.feed_forward.intermediate_act_fn = torch.nn.ReLU()
    assert FastEncoderLayer.build(layer) is None
    assert fast_layers([layer], torch.bfloat16) is None


def test_int8_with_bf16_convolutions():
    """quantize int8 + dtype bfloat16: bf16 conv front end and positional conv, int8 Linear
    layers on float32 activations; close to the float32 encoder."""
    ref = _enc(layer=[1, 2], pooling="mean_std")
    hybrid = _enc(layer=[1, 2], pooling="mean_std", quantize="int8", dtype="bfloat16")
    assert hybrid.front_end.dtype == torch.bfloat16 and hybrid.torch_dtype == torch.float32
    assert hybrid.model.encoder.pos_conv_embed.conv.weight.dtype == torch.bfloat16
    assert type(hybrid.model.encoder.layers[0].feed_forward.output_dense).__module__.startswith("torch.ao")
    waves = _waves()
    for a, b in zip(ref.encode(waves), hybrid.encode(waves)):
        assert b.dtype == np.float32 and np.isfinite(b).all()
        assert np.corrcoef(a, b)[0, 1] > 0.99
