import numpy as np
import pytest
import soundfile as sf

from conftest import tone, write_wav
from scaa.dsp import audio


def test_wav_flac_ogg_mp3_decode_to_mono_16k(tmp_path):
    for fmt, ext in (("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")):
        if fmt not in sf.available_formats():
            continue
        p = write_wav(tmp_path / f"x.{ext}", fmt=fmt, seconds=1.0)
        wave = audio.load(p)
        assert wave.dtype == np.float32 and wave.ndim == 1
        assert abs(wave.size - 16000) < 1200, (fmt, wave.size)


def test_stereo_is_downmixed(tmp_path):
    left, right = tone(0.5), np.zeros(8000, np.float32)
    p = tmp_path / "st.wav"
    sf.write(str(p), np.stack([left, right], axis=1), 16000)
    wave = audio.load(p)
    np.testing.assert_allclose(wave, (left + right) / 2, atol=1e-4)
    assert audio.probe(p).channels == 2


def test_wrong_rate_is_resampled(tmp_path):
    p = write_wav(tmp_path / "44k.wav", wave=tone(1.0, sr=44100), sr=44100)
    wave = audio.load(p)
    assert abs(wave.size - 16000) <= 2
    spec = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spec) * 16000 / wave.size - 220) < 3  # pitch preserved


@pytest.mark.parametrize("content,reason", [
    (b"", "unreadable"), (b"RIFF\x00\x00garbage", "unreadable"),
])
def test_unreadable_files(tmp_path, content, reason):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(audio.AudioError) as err:
        audio.load(p)
    assert err.value.reason == reason
    with pytest.raises(audio.AudioError):
        audio.probe(p)


def test_missing_empty_silent_too_long_non_finite(tmp_path):
    with pytest.raises(audio.AudioError, match="missing"):
        audio.load(tmp_path / "nope.wav")
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros(0, np.float32), 16000)
    with pytest.raises(audio.AudioError) as err:
        audio.load(empty)
    assert err.value.reason in ("empty", "unreadable")
    silent = write_wav(tmp_path / "silent.wav", wave=np.zeros(16000, np.float32))
    with pytest.raises(audio.AudioError) as err:
        audio.load(silent)
    assert err.value.reason == "silent"
    long = write_wav(tmp_path / "long.wav", seconds=3)
    with pytest.raises(audio.AudioError) as err:
        audio.load(long, max_seconds=2)
    assert err.value.reason == "too_long"
    with pytest.raises(audio.AudioError) as err:
        audio.prepare(np.array([0.1, np.nan], np.float32), 16000)
    assert err.value.reason == "non_finite"


def test_trim_removes_leading_and_trailing_silence():
    x = np.concatenate([np.zeros(8000), tone(1.0), np.zeros(8000)]).astype(np.float32)
    trimmed = audio.prepare(x, 16000, trim_db=30)
    assert 15000 < trimmed.size < 18000
    assert audio.prepare(x, 16000).size == x.size


@pytest.mark.parametrize("sr", [8000, 11025, 22050, 44100, 48000, 16001])
@pytest.mark.parametrize("n", [1, 7, 1000, 12345])
def test_resample_matches_librosa_soxr_hq(sr, n):
    """The loader resamples with soxr directly; librosa's soxr_hq path gives the same samples."""
    import librosa

    wave = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    ours = audio.resample(wave, sr, 16_000)
    ref = librosa.resample(wave, orig_sr=sr, target_sr=16_000, res_type="soxr_hq")
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)
