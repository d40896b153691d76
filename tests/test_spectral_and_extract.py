import numpy as np
import pandas as pd
import pytest

from conftest import tone, write_wav
from scaa import featstore
from scaa.workflow import extract
from scaa.encoders.spectral import SpectralEncoder, power_spectrogram
from scaa.registry import VIEWS


def test_pooled_features_have_documented_size_and_meaning():
    enc = SpectralEncoder()
    low, high = enc.encode_one(tone(1.0, freq=200)), enc.encode_one(tone(1.0, freq=1500))
    assert low.shape == (15,) and low.dtype == np.float32
    assert high[0] > low[0] * 2  # spectral centroid follows the pitch
    assert SpectralEncoder(lfcc=True, stats=("mean", "std")).encode_one(tone()).shape == (2 * (15 + 20),)


def test_frames_output_is_lfcc_with_deltas():
    frames = SpectralEncoder(output="frames").encode_one(tone(1.0))
    assert frames.shape == (101, 60)


def test_stft_matches_librosa():
    import librosa

    x = tone(0.5)
    ours = power_spectrogram(x, 512, 160)
    ref = np.abs(librosa.stft(x, n_fft=512, hop_length=160, window="hann", center=True, pad_mode="reflect")) ** 2
    np.testing.assert_allclose(ours, ref.T, rtol=1e-3, atol=1e-4)


def test_shards_cover_every_clip_once_and_balance_lengths():
    m = pd.DataFrame({"utt_id": [f"u{i}" for i in range(10)], "duration_s": np.arange(10, 0, -1.0),
                      "split": ["train"] * 5 + ["dev"] * 5})
    shards = [extract.shard_rows(m, k, 3) for k in range(3)]
    ids = sorted(sum((s["utt_id"].tolist() for s in shards), []))
    assert ids == sorted(m["utt_id"])
    assert all(s["duration_s"].is_monotonic_increasing for s in shards)
    assert extract.parse_scatteritem("2-of-3") == (1, 3)
    assert set(extract.shard_rows(m, 0, 1, ["train"])["split"]) == {"train"}


def test_shard_count_from_shard_size(tmp_path):
    m = pd.DataFrame({"utt_id": [f"u{i}" for i in range(25)], "split": ["train"] * 11 + ["dev"] * 14})
    path = tmp_path / "m.parquet"
    m.to_parquet(path)
    assert extract.shard_count(path, 10) == 3  # 25 clips -> 10 + 10 + 5
    assert extract.shard_count(path, 25) == 1 and extract.shard_count(path, 1000) == 1
    assert extract.shard_count(path, 11, splits=["train"]) == 1
    assert extract.shard_count(path, 5, splits=["train"]) == 3
    assert extract.shard_count(path, 5, splits=["eval"]) == 1  # empty split: still one (empty) shard
    with pytest.raises(ValueError, match="shard_size"):
        extract.shard_count(path, 0)


class NaNEncoder(SpectralEncoder):
    def encode(self, waves):
        out = super().encode(waves)
        out[0][:] = np.nan
        return out


def test_extract_shard_records_skips(tmp_path):
    good = write_wav(tmp_path / "good.wav")
    silent = write_wav(tmp_path / "silent.wav", wave=np.zeros(16000, np.float32))
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"junk")
    rows = pd.DataFrame({"utt_id": ["g", "s", "b", "m"], "path": [str(good), str(silent), str(broken),
                                                                   str(tmp_path / "missing.wav")],
                         "split": "eval", "duration_s": 1.0})
    stats = extract.extract_shard(rows, SpectralEncoder(), "none", VIEWS.build("none"), 0,
                                  tmp_path / "f.npz", tmp_path / "f.skips.csv", progress=False)
    assert stats["encoded"] == 1 and stats["skipped"] == 3
    skips = pd.read_csv(tmp_path / "f.skips.csv").set_index("utt_id")["reason"]
    assert skips["s"] == "silent" and skips["b"].startswith("unreadable") and skips["m"] == "missing"
    feats = featstore.load([tmp_path / "f.npz"])
    assert feats.utt_id.tolist() == ["g"] and feats.X.shape == (1, 15)
    # non-finite features are caught at extraction, not in training
    extract.extract_shard(rows.iloc[:1], NaNEncoder(), "none", VIEWS.build("none"), 0,
                          tmp_path / "n.npz", tmp_path / "n.skips.csv", progress=False)
    assert pd.read_csv(tmp_path / "n.skips.csv")["reason"].tolist() == ["non_finite_features"]
    assert len(featstore.load([tmp_path / "n.npz"])) == 0


def test_featstore_roundtrip_frames_and_align(tmp_path):
    frames = [np.random.default_rng(i).standard_normal((5 + i, 4)).astype(np.float32) for i in range(3)]
    featstore.save(tmp_path / "a.npz", ["x", "y", "z"], frames, "frames")
    back = featstore.load([tmp_path / "a.npz"])
    assert back.output == "frames" and [f.shape for f in back.X] == [(5, 4), (6, 4), (7, 4)]
    np.testing.assert_allclose(back.X[2], frames[2], atol=1e-2)  # float16 cache
    sub = featstore.align(back, ["z", "x"])
    assert sub.utt_id.tolist() == ["z", "x"]
    with pytest.raises(KeyError, match="no features"):
        featstore.align(back, ["q"])


def test_with_views_stacks_augmented_rows():
    base = featstore.Features(np.array(["a", "b"]), np.zeros((2, 3), np.float32), y=np.array([0, 1]))
    aug = featstore.Features(np.array(["a", "b"]), np.ones((2, 3), np.float32), y=np.array([0, 1]))
    assert featstore.with_views(base) is base
    base.meta["views"] = {"lp": aug}
    both = featstore.with_views(base)
    assert both.X.shape == (4, 3) and both.y.tolist() == [0, 1, 0, 1] and both.X[2:].sum() == 6
