import numpy as np
import pytest

from scaa.registry import VIEWS
from scaa.dsp.views import clip_rng, mulaw_roundtrip

SR = 16000

SPECS = [
    {"type": "bandmask"},
    {"type": "lowpass", "cutoff_hz": [2000, 5000]},
    {"type": "highpass", "cutoff_hz": [100, 800]},
    {"type": "codec", "kind": "mulaw"},
    {"type": "codec", "kind": "mp3", "compression_level": [0.3, 0.9]},
    {"type": "noise", "snr_db": [5, 30], "colour": "pink"},
    {"type": "rawboost"},
    {"type": "rawboost", "algos": ["ssi"]},
    {"type": "chain", "views": [{"type": "lowpass", "cutoff_hz": 4000}, {"type": "noise", "snr_db": 20}]},
]


def _speechlike(seed=0, seconds=1.0):
    """Harmonic tone with a moving pitch plus broadband noise: energy across the whole band."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 2 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 30))
    x = x * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2) + 0.05 * rng.standard_normal(t.size)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _band_energy(x, lo, hi):
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return spec[(f >= lo) & (f < hi)].sum()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s["type"] + str(s.get("kind", s.get("algos", ""))))
def test_views_are_seeded_finite_and_keep_length(spec):
    view = VIEWS.build(spec)
    x = _speechlike()
    a = view(x, clip_rng(0, "utt1", "v"))
    b = view(x, clip_rng(0, "utt1", "v"))
    c = view(x, clip_rng(1, "utt1", "v"))
    assert a.dtype == np.float32 and a.shape == x.shape and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    if spec["type"] != "codec" or spec.get("kind") == "mp3":  # mu-law has no randomness
        assert not np.array_equal(a, c)
    assert not np.allclose(a, x)


def test_none_view_is_identity():
    x = _speechlike()
    assert VIEWS.build("none")(x, clip_rng(0, "u", "none")) is x


def test_lowpass_and_highpass_remove_energy_beyond_cutoff():
    x = _speechlike()
    low = VIEWS.build({"type": "lowpass", "cutoff_hz": 3000})(x, np.random.default_rng(0))
    assert _band_energy(low, 4000, 8000) < 1e-3 * _band_energy(x, 4000, 8000)
    assert _band_energy(low, 0, 2500) > 0.9 * _band_energy(x, 0, 2500)
    high = VIEWS.build({"type": "highpass", "cutoff_hz": 1000})(x, np.random.default_rng(0))
    assert _band_energy(high, 0, 600) < 1e-3 * _band_energy(x, 0, 600)
    assert _band_energy(high, 1500, 8000) > 0.9 * _band_energy(x, 1500, 8000)


def test_bandmask_zeroes_its_band_only():
    view = VIEWS.build({"type": "bandmask", "min_width_hz": 500, "max_width_hz": 800})
    x = _speechlike()
    y = view(x, np.random.default_rng(3))
    lo, hi = view.last_band
    assert 500 <= hi - lo <= 800
    assert _band_energy(y, lo + 2, hi - 2) < 1e-6 * _band_energy(x, lo + 2, hi - 2)
    outside = _band_energy(x, 0, lo - 2) + _band_energy(x, hi + 2, 8000)
    assert _band_energy(y, 0, lo - 2) + _band_energy(y, hi + 2, 8000) == pytest.approx(outside, rel=1e-3)


@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
def test_noise_hits_target_snr(snr, colour):
    x = _speechlike(seconds=2)
    y = VIEWS.build({"type": "noise", "snr_db": snr, "colour": colour})(x, np.random.default_rng(0))
    noise = y.astype(np.float64) - x
    measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noise ** 2))
    assert abs(measured - snr) < 0.5


def test_noise_colour_shapes_spectrum():
    x = np.zeros(SR * 2, np.float32) + 1e-3
    pink = VIEWS.build({"type": "noise", "snr_db": 0, "colour": "pink"})(x, np.random.default_rng(0)) - x
    white = VIEWS.build({"type": "noise", "snr_db": 0})(x, np.random.default_rng(0)) - x
    ratio = lambda n: _band_energy(n, 50, 500) / _band_energy(n, 5000, 5450)  # noqa: E731
    assert ratio(pink) > 5 * ratio(white)


def test_mulaw_roundtrip_error_is_small_but_nonzero():
    x = _speechlike()
    y = mulaw_roundtrip(x)
    err = np.abs(y - x)
    assert 0 < err.max() < 0.02
    # companding: small samples are quantised more finely than large ones
    small, large = np.abs(x) < 0.02, np.abs(x) > 0.2
    assert err[small].mean() < err[large].mean()


def test_mp3_roundtrip_is_aligned_and_lossy():
    x = _speechlike(seconds=2)
    for level in (0.2, 0.9):
        y = VIEWS.build({"type": "codec", "kind": "mp3", "compression_level": level})(x, np.random.default_rng(0))
        corr = np.corrcoef(x, y)[0, 1]
        assert corr > 0.8, (level, corr)
        assert not np.allclose(x, y, atol=1e-4)
    # heavier compression removes more high-frequency energy
    hi = VIEWS.build({"type": "codec", "kind": "mp3", "compression_level": 0.95})(x, np.random.default_rng(0))
    assert _band_energy(hi, 5000, 8000) < 0.5 * _band_energy(x, 5000, 8000)


def test_rawboost_components():
    from scaa.dsp.views import isd_impulsive, lnl_convolutive

    x = _speechlike().astype(np.float64)
    rng = np.random.default_rng(0)
    y = isd_impulsive(x, rng, max_percent=10, g_sd=2)
    changed = np.flatnonzero(y != x)
    assert 0 < changed.size <= 0.1 * x.size
    assert np.all(np.abs(y[changed] - x[changed]) <= 2 * np.abs(x[changed]) + 1e-12)  # signal-dependent
    z = lnl_convolutive(x, np.random.default_rng(1))
    assert np.abs(z).max() == pytest.approx(np.abs(x).max())  # peak-normalised
    assert np.corrcoef(x, z)[0, 1] < 0.999  # filtered, not a copy


def test_chain_applies_in_order_and_bad_specs():
    x = _speechlike()
    chain = VIEWS.build({"type": "chain", "views": [{"type": "lowpass", "cutoff_hz": 3000},
                                                    {"type": "codec", "kind": "mulaw"}]})
    manual = mulaw_roundtrip(VIEWS.build({"type": "lowpass", "cutoff_hz": 3000})(x, np.random.default_rng(0)))
    np.testing.assert_allclose(chain(x, np.random.default_rng(0)), manual.astype(np.float32), atol=1e-7)
    for bad in ({"type": "lowpass", "cutoff_hz": 9000}, {"type": "codec", "kind": "aac"},
                {"type": "noise", "colour": "blue"}, {"type": "rawboost", "algos": ["x"]},
                {"type": "chain", "views": []}, {"type": "noise", "snr_db": [20, 10]}):
        with pytest.raises(Exception):
            VIEWS.build(bad)(x, np.random.default_rng(0))
