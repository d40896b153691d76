"""scaa.dsp.melbank computes librosa's default mel filter bank to the bit, without librosa."""
import itertools
import subprocess
import sys
import warnings

import numpy as np
import pytest

from scaa.encoders.spectral import SpectralEncoder
from scaa.encoders.whisper_mel import N_FFT, mel_filters
from scaa.dsp.melbank import hz_to_mel, mel_filterbank, mel_to_hz

librosa = pytest.importorskip("librosa")


@pytest.mark.parametrize("sr,n_fft", [(16000, 512), (16000, 400), (16000, 1024), (22050, 2048), (8000, 256)])
def test_filterbank_equals_librosa_to_the_bit(sr, n_fft):
    for n_mels, fmin, fmax in itertools.product([20, 40, 64, 80, 128], [0.0, 20.0], [None, 4000.0]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa warns of empty filters for some settings
            want = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        got = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
        assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
        assert np.array_equal(got, want), (sr, n_fft, n_mels, fmin, fmax)


def test_the_encoders_banks_are_librosas():
    enc = SpectralEncoder()
    from scaa.encoders.spectral import mel_basis

    assert np.array_equal(mel_basis(enc.sr, enc.n_fft, enc.n_mels),
                          librosa.filters.mel(sr=enc.sr, n_fft=enc.n_fft, n_mels=enc.n_mels))
    for n_mels in (80, 128):  # Whisper's two front ends
        assert np.array_equal(mel_filters(n_mels), librosa.filters.mel(
            sr=16000, n_fft=N_FFT, n_mels=n_mels, fmin=0.0, fmax=8000.0, htk=False, norm="slaney"))


def test_mel_scale_round_trips_and_matches_librosa():
    hz = np.array([0.0, 100.0, 999.9, 1000.0, 1000.1, 4000.0, 8000.0, 11025.0])
    np.testing.assert_array_equal(hz_to_mel(hz), librosa.hz_to_mel(hz))
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)
    for f in (0.0, 500.0, 1000.0, 7999.5):  # scalars take the same path
        assert hz_to_mel(f) == librosa.hz_to_mel(f)
        assert mel_to_hz(hz_to_mel(f)) == librosa.mel_to_hz(librosa.hz_to_mel(f))


def test_spectral_features_do_not_import_librosa():
    code = ("import sys, numpy as np; from scaa.encoders.spectral import SpectralEncoder; "
            "SpectralEncoder().encode_one(np.random.default_rng(0).normal(size=16000).astype('float32')); "
            "assert 'librosa' not in sys.modules and 'numba' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
