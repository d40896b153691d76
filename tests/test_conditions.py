"""Channel conditions do what their names say, on synthetic signals, deterministically."""
import numpy as np
import pandas as pd
import pytest

from conftest import tone, write_wav
from scaa.dsp import conditions
from scaa.dsp.audio import AudioError
from scaa.registry import CONDITIONS, VIEWS
from scaa.dsp.views import clip_rng

SR = 16000


def speechlike(seconds=2.0, seed=0):
    """Broadband test signal: a harmonic tone plus white noise over the whole band."""
    rng = np.random.default_rng(seed)
    return (tone(seconds, 180.0, seed=seed) + 0.05 * rng.standard_normal(int(seconds * SR))).astype(np.float32)


def band_share(y, lo, hi):
    spec = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(y.size, 1 / SR)
    return spec[(f >= lo) & (f < hi)].sum() / spec.sum()


def snr_db(clean, degraded):
    c = clean.astype(np.float64)
    return 10 * np.log10(np.mean(c ** 2) / np.mean((degraded.astype(np.float64) - c) ** 2))


def babble_manifest(tmp_path):
    rows = []
    for i in range(6):
        path = write_wav(tmp_path / f"bf{i}.wav", freq=120 + 30 * i, seconds=1.0 + 0.2 * i, seed=i)
        rows.append({"utt_id": f"bf{i}", "path": str(path), "label": 0, "split": "train", "speaker": f"S{i}",
                     "attack": "-", "duration_s": 1.0})
    rows.append({"utt_id": "sp", "path": str(tmp_path / "missing.wav"), "label": 1, "split": "train",
                 "speaker": "S9", "attack": "A01", "duration_s": 1.0})
    return pd.DataFrame(rows)


SPECS = {
    "mp3_32": {"type": "codec", "codec": "mp3", "bitrate_kbps": 32},
    "opus_12": {"type": "codec", "codec": "opus", "bitrate_kbps": 12},
    "aac_32": {"type": "codec", "codec": "aac", "bitrate_kbps": 32},
    "telephone": {"type": "telephone"},
    "white_10": {"type": "noise", "kind": "white", "snr_db": 10},
    "pink_5": {"type": "noise", "kind": "pink", "snr_db": 5},
    "babble_20": {"type": "noise", "kind": "babble", "snr_db": 20, "talkers": 3},
    "reverb": {"type": "reverb", "rt60_s": [0.3, 0.8]},
    "quiet": {"type": "gain", "gain_db": -20},
    "loud": {"type": "gain", "gain_db": 6},
    "loss": {"type": "packet_loss", "loss_rate": 0.1},
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_condition_keeps_length_and_rate_and_is_deterministic_per_seed_clip_and_name(name, tmp_path):
    cond = CONDITIONS.build(SPECS[name])
    if hasattr(cond, "prepare"):
        cond.prepare(babble_manifest(tmp_path))
    x = speechlike(1.37)  # a length no codec frame divides
    a = cond(x, clip_rng(0, "utt1", name))
    b = cond(x, clip_rng(0, "utt1", name))
    assert a.shape == x.shape and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, x)
    if name not in ("telephone", "quiet", "loud") and not name.startswith(("mp3", "opus", "aac")):
        other = cond(x, clip_rng(1, "utt1", name))          # another seed draws other noise
        assert not np.array_equal(a, other)


@pytest.mark.parametrize("codec,kbps", [("mp3", 32), ("mp3", 64), ("mp3", 128), ("opus", 12), ("opus", 24),
                                        ("aac", 32)])
def test_codec_stream_has_the_requested_bit_rate_and_decodes_aligned(codec, kbps):
    x = speechlike(4.0)
    data = conditions.encode(x, codec, kbps)
    measured = len(data) * 8 / 4.0 / 1000                 # container overhead included
    assert 0.85 * kbps <= measured <= 1.15 * kbps, measured
    y = CONDITIONS.build({"type": "codec", "codec": codec, "bitrate_kbps": kbps})(x, clip_rng(0, "u", codec))
    # aligned: the decoded clip correlates with the input at lag 0 far better than at a shift
    zero = np.corrcoef(x[1000:-1000], y[1000:-1000])[0, 1]
    shifted = np.corrcoef(x[1000:-1000], y[1100:-900])[0, 1]
    assert zero > 0.7 and zero > shifted + 0.3, (zero, shifted)


def test_higher_bit_rate_is_closer_to_the_original():
    x = speechlike(3.0)
    err = {k: snr_db(x, CONDITIONS.build({"type": "codec", "codec": "mp3", "bitrate_kbps": k})(x, None))
           for k in (32, 128)}
    assert err[128] > err[32]


def test_telephone_keeps_only_the_300_to_3400_hz_band():
    x = (0.1 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32)
    assert band_share(x, 3600, 8000) > 0.5                 # white noise: over half its energy above the band
    y = CONDITIONS.build({"type": "telephone"})(x, None)
    assert band_share(y, 3800, 8000) < 1e-3               # nothing above the phone band (mu-law noise is filtered)
    assert band_share(y, 0, 200) < 0.01                   # hardly anything below it
    assert band_share(y, 300, 3400) > 0.9


def test_mulaw_can_be_switched_off_and_changes_the_signal():
    x = speechlike(1.0)
    with_law = CONDITIONS.build({"type": "telephone"})(x, None)
    without = CONDITIONS.build({"type": "telephone", "mulaw": False})(x, None)
    assert not np.allclose(with_law, without)


@pytest.mark.parametrize("kind,snr", [("white", 20), ("white", 10), ("pink", 5), ("babble", 10), ("babble", 0)])
def test_additive_noise_hits_the_snr_within_half_a_db(kind, snr, tmp_path):
    cond = CONDITIONS.build({"type": "noise", "kind": kind, "snr_db": snr})
    cond.prepare(babble_manifest(tmp_path))
    x = speechlike(2.0)
    y = cond(x, clip_rng(3, "u", kind))
    assert abs(snr_db(x, y) - snr) < 0.5


def test_babble_is_speech_from_train_bona_fide_clips_only(tmp_path):
    cond = CONDITIONS.build({"type": "noise", "kind": "babble", "snr_db": 0, "talkers": 2})
    manifest = babble_manifest(tmp_path)
    manifest.loc[0, "split"] = "eval"                      # eval clips never enter the pool
    cond.prepare(manifest)
    assert len(cond.pool) == 5                             # 5 train bona fide; the spoof row is not used
    with pytest.raises(RuntimeError, match="prepare"):
        CONDITIONS.build({"type": "noise", "kind": "babble"})(speechlike(1.0), clip_rng(0, "u", "b"))
    with pytest.raises(ValueError, match="bona fide"):
        CONDITIONS.build({"type": "noise", "kind": "babble"}).prepare(manifest[manifest.label == 1])


@pytest.mark.parametrize("rt60", [0.3, 0.6, 1.2])
def test_rir_energy_decays_60_db_per_rt60(rt60):
    h = conditions.synthetic_rir(np.random.default_rng(7), rt60)
    decay = conditions.schroeder_decay_db(h)
    t = np.arange(h.size) / SR
    t30 = 2 * (t[np.argmax(decay < -35)] - t[np.argmax(decay < -5)])   # T30 estimate of RT60
    assert abs(t30 - rt60) < 0.1 * rt60


def test_reverb_smears_energy_in_time_and_keeps_the_level():
    x = np.zeros(SR, np.float32)
    x[1000:1160] = 0.5                                     # a 10 ms burst
    y = CONDITIONS.build({"type": "reverb", "rt60_s": 0.8})(x, clip_rng(0, "u", "r"))
    # the input is silent 180 ms after the burst; the room still rings there (-13.5 dB of a
    # reverberant third of the energy at RT60 0.8 s: about 1.5 %)
    assert np.sum(y[4000:] ** 2) > 0.005 * np.sum(y ** 2) and not x[4000:].any()
    assert np.isclose(np.mean(y.astype(float) ** 2), np.mean(x.astype(float) ** 2), rtol=1e-3)


def test_gain_scales_and_clips():
    x = speechlike(1.0)
    quiet = CONDITIONS.build({"type": "gain", "gain_db": -20})(x, None)
    assert np.allclose(quiet, x * 0.1, atol=1e-6)
    loud = CONDITIONS.build({"type": "gain", "gain_db": 6})(np.full(100, 0.8, np.float32), None)
    assert loud.max() == 1.0                               # 0.8 * 2 clipped to full scale


def test_packet_loss_drops_about_the_loss_rate_in_whole_frames():
    cond = CONDITIONS.build({"type": "packet_loss", "loss_rate": 0.2, "frame_ms": 20, "burst": 2})
    x = np.ones(SR * 60, np.float32)
    y = cond(x, clip_rng(0, "u", "loss"))
    frames = y.reshape(-1, 320)
    assert set(np.unique(frames.min(1) == frames.max(1))) == {True}   # a frame is kept or lost whole
    assert abs((frames[:, 0] == 0).mean() - 0.2) < 0.03


def test_bad_parameters_and_names_are_refused():
    with pytest.raises(Exception, match="codec"):
        CONDITIONS.build({"type": "codec", "codec": "wma"})
    with pytest.raises(Exception, match="snr_db"):
        CONDITIONS.build({"type": "noise", "snr_db": 200})
    with pytest.raises(ValueError, match="clean"):
        conditions.check_names({"clean": {"type": "gain"}})
    with pytest.raises(ValueError, match="letters"):
        conditions.check_names({"a/b": {"type": "gain"}})
    assert conditions.check_names({"mp3_64": {"type": "codec"}}) == {"mp3_64": {"type": "codec"}}


def test_condition_view_turns_a_failure_into_a_recorded_skip_reason():
    view = VIEWS.build({"type": "condition", "condition": {"type": "gain", "gain_db": 0}})
    x = speechlike(0.5)
    assert np.array_equal(view(x, None), x)

    class Broken:
        def __call__(self, wave, rng):
            return wave * np.nan

    view.condition = Broken()
    with pytest.raises(AudioError) as err:
        view(x, None)
    assert err.value.reason == "condition_error"
