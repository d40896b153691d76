"""The loader's input gate (scaa.dsp.audio.load / probe / check_input): a length known before
decoding refuses a file at once, a length not known stops decoding at the limit, the
decoded samples (channels x rate x seconds) are capped, and mixing and resampling happen
block by block, so memory follows the limit, not the file; ordinary files decode to the
very samples the whole-file path gave."""
import fractions
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from conftest import tone
from scaa.dsp import audio

av = pytest.importorskip("av")


def whole_file(path, sample_rate=16000):
    """The loader as it was: decode everything, mix, resample the whole array at once."""
    if path.suffix in audio.CONTAINER_SUFFIXES:
        chunks = []
        with av.open(str(path)) as box:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in box.decode(audio=0):
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
        return np.concatenate(chunks).astype(np.float32)
    wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
    wave = wave.mean(axis=1)
    return wave if sr == sample_rate else audio.resample(wave, sr, sample_rate)


def multi(seconds, sr, channels):
    return np.stack([tone(seconds, freq=110 * (c + 1), sr=sr, amp=0.2, seed=c) for c in range(channels)], axis=1)


def write_container(path, wave, sr, codec="aac", fmt=None):
    """``wave`` (frames x channels, float32) encoded by PyAV."""
    layout = {1: "mono", 2: "stereo"}[wave.shape[1]]
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=sr, layout=layout)
        planar = np.ascontiguousarray(wave.T)
        for i in range(0, planar.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, i:i + 1024]), format="fltp",
                                               layout=layout)
            frame.sample_rate, frame.pts = sr, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def two_hour_mkv(tmp_path_factory):
    """2 hours of 8 kHz silence, FLAC in Matroska: about 2 MB on disk, 115 M samples at 16 kHz."""
    path = tmp_path_factory.mktemp("bomb") / "two_hours.mkv"
    rate, size = 8000, 4608
    zeros = np.zeros((1, size), np.int16)
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono")
        for i in range(7200 * rate // size):
            frame = av.AudioFrame.from_ndarray(zeros, format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, i * size, fractions.Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture
def decoded(monkeypatch):
    """Counts container frames the loader decodes."""
    count = {"frames": 0, "seconds": 0.0}
    real = audio._frames

    def counting(box):
        for frame in real(box):
            count["frames"] += 1
            count["seconds"] += frame.samples / frame.sample_rate
            yield frame

    monkeypatch.setattr(audio, "_frames", counting)
    return count


@pytest.fixture
def reads(monkeypatch):
    """Counts the blocks read through libsndfile and their size."""
    count = {"blocks": 0, "largest": 0}
    real = sf.SoundFile.read

    def counting(self, frames=-1, *a, **kw):
        out = real(self, frames, *a, **kw)
        if len(out):
            count["blocks"] += 1
            count["largest"] = max(count["largest"], out.nbytes)
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting)
    return count


def peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_ordinary_files_decode_to_the_same_samples(tmp_path, reads):
    files = [tmp_path / "mono16k.wav", tmp_path / "stereo44k.flac", tmp_path / "mono22k.ogg"]
    sf.write(str(files[0]), tone(3.3), 16000, subtype="PCM_16")
    sf.write(str(files[1]), multi(5.1, 44100, 2), 44100)
    sf.write(str(files[2]), tone(2.5, sr=22050), 22050)
    if "MP3" in sf.available_formats():
        files.append(tmp_path / "stereo44k.mp3")
        sf.write(str(files[-1]), multi(2.5, 44100, 2), 44100)
    files.append(write_container(tmp_path / "stereo44k.m4a", multi(3.0, 44100, 2), 44100))
    files.append(write_container(tmp_path / "mono48k.mkv", multi(2.0, 48000, 1), 48000, codec="flac"))
    for path in files:
        ref = whole_file(path)
        for limit in (None, 600):
            got = audio.load(path, max_seconds=limit)
            assert got.dtype == np.float32 and got.shape == ref.shape, path.name
            np.testing.assert_array_equal(got, ref, err_msg=path.name)
    assert reads["blocks"] >= 4  # the soundfile formats went through the block reader


def test_two_hour_container_is_refused_before_decoding(two_hour_mkv, decoded):
    def refuse():
        with pytest.raises(audio.AudioError) as err:
            audio.load(two_hour_mkv, max_seconds=600)
        assert err.value.reason == "too_long" and "7200.0 s > 600" in err.value.detail

    assert peak_bytes(refuse) < 5 * 2**20
    assert decoded["frames"] == 0
    info = audio.probe(two_hour_mkv, 600)  # the manifest's path: the container's word
    assert info.duration_s == pytest.approx(7200, abs=1)
    with pytest.raises(audio.AudioError, match="too_long"):
        audio.check_input(info, two_hour_mkv, 600)
    assert decoded["frames"] == 0


def test_a_container_that_does_not_say_stops_at_the_limit(two_hour_mkv, decoded, monkeypatch):
    real = audio._container_info
    monkeypatch.setattr(audio, "_container_info", lambda box, stream: (None, *real(box, stream)[1:]))

    def refuse():
        with pytest.raises(audio.AudioError) as err:
            audio.load(two_hour_mkv, max_seconds=30)
        assert err.value.reason == "too_long" and "does not state its length" in err.value.detail

    assert peak_bytes(refuse) < 8 * 2**20  # 30 s at 16 kHz is 1.9 MB; the whole file would be 460 MB
    assert 30 < decoded["seconds"] < 31
    decoded["seconds"] = 0
    with pytest.raises(audio.AudioError, match="too_long"):
        audio.probe(two_hour_mkv, 30)  # counting its length stops there too
    assert decoded["seconds"] < 31


def test_flac_header_claiming_two_hours_is_refused_unread(tmp_path, reads):
    path = tmp_path / "claims_2h.flac"
    sf.write(str(path), tone(10.0), 16000)
    raw = bytearray(path.read_bytes())
    assert raw[:4] == b"fLaC"
    fields = int.from_bytes(raw[18:26], "big") & ~((1 << 36) - 1)  # STREAMINFO: total samples, low 36 bits
    raw[18:26] = (fields | 7200 * 16000).to_bytes(8, "big")
    path.write_bytes(bytes(raw))
    with pytest.raises(audio.AudioError) as err:
        audio.load(path, max_seconds=600)
    assert err.value.reason == "too_long"
    assert reads["blocks"] == 0
    raw[18:26] = fields.to_bytes(8, "big")  # length not stated (as a streaming encoder leaves it)
    path.write_bytes(bytes(raw))
    with pytest.raises(audio.AudioError) as err:
        audio.load(path, max_seconds=1)
    assert err.value.reason == "too_long" and "does not state the length" in err.value.detail
    assert reads["blocks"] == 1


def test_many_channels_at_a_high_rate_are_mixed_and_resampled_in_blocks(tmp_path, reads, monkeypatch):
    path = tmp_path / "8ch_96k.flac"
    wave = multi(6.0, 96000, 8)
    sf.write(str(path), wave, 96000)
    del wave
    ref = whole_file(path)
    reads.update(blocks=0, largest=0)
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 16384)
    got = {}
    peak = peak_bytes(lambda: got.update(wave=audio.load(path, max_seconds=600)))
    np.testing.assert_array_equal(got["wave"], ref)
    whole = 6 * 96000 * 8 * 4  # the decoded file as one float32 array: 18 MB
    assert reads["blocks"] >= 6 * 96000 // 16384 and reads["largest"] <= 16384 * 8 * 4
    assert peak < whole / 4, f"peak {peak / 2**20:.1f} MiB"


def test_decoded_samples_are_capped_before_decoding(tmp_path, reads):
    path = tmp_path / "8ch_96k.wav"
    sf.write(str(path), multi(3.0, 96000, 8), 96000)  # 2.3 M samples: 3 s, yet 24 s of 48 kHz stereo
    with pytest.raises(audio.AudioError) as err:
        audio.load(path, max_seconds=10)
    assert err.value.reason == "too_long"
    assert "8 channels x 96000 Hz x 3.0 s" in err.value.detail and "decode limit is 960,000" in err.value.detail
    assert reads["blocks"] == 0
    assert audio.load(path, max_seconds=30).size == 48000  # within the limit (2.88 M): decoded
    assert audio.decode_limit(600) == 600 * 48000 * 2 and audio.decode_limit(None) is None


def test_manifest_and_overlay_use_the_gate(tmp_path, two_hour_mkv, decoded):
    from scaa.inference.overlay import overlay
    from scaa.registry import DATASETS

    root = tmp_path / "corpus"
    (root / "real").mkdir(parents=True)
    (root / "real" / "long.mkv").symlink_to(two_hour_mkv)
    sf.write(str(root / "real" / "ok.wav"), tone(1.0), 16000)
    df, rejects = DATASETS.build({"type": "folder", "root": str(root), "max_seconds": 600}).build()
    assert list(df["utt_id"]) == ["real/ok"]
    assert rejects["reason"].tolist() == ["too_long"]
    with pytest.raises(audio.AudioError, match="too_long"):  # refused before the detector is touched
        overlay(None, two_hour_mkv, tmp_path / "ov", max_seconds=600)
    assert decoded["frames"] == 0
    from scaa import cli

    for bad in ("nan", "0", "inf"):  # scaa overlay --max-seconds: a finite limit > 0, else exit 2
        assert cli.main(["overlay", str(two_hour_mkv), "--max-seconds", bad]) == 2


@pytest.mark.parametrize("sr", [8000, 16000, 44100])
def test_a_file_of_exactly_max_seconds_is_decoded(tmp_path, sr, monkeypatch):
    """The block seconds once summed past the limit (600.0000000000x s): a 600 s file at 8 or
    16 kHz was refused as too_long by a header that says 600 s, with "the header understated"."""
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 999)  # many blocks, as a long file has
    path = tmp_path / "exact.flac"
    sf.write(str(path), tone(3.0, sr=sr), sr)
    assert audio.load(path, max_seconds=3).size == 48000
    with pytest.raises(audio.AudioError, match="too_long"):
        audio.load(path, max_seconds=2.999)
