"""Pretrained encoders whose weights ship inside PyPI wheels, so they work offline.

- ``resemblyzer``: GE2E speaker encoder (3-layer LSTM on 40 mel bands, 256-d output).
  Install: ``pip install --no-deps resemblyzer==0.1.4 webrtcvad==2.0.10`` (librosa, scipy,
  numpy and torch are already here; webrtcvad builds with gcc and needs setuptools<81).
  We load its shipped ``pretrained.pt`` with ``torch.load(weights_only=True)`` ourselves.
- ``distillmos``: DistillMOS speech-quality model (complex-spectrogram CNN + transformer
  + attention pooling). Install: ``pip install --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0``.
  Its ``sqa`` module imports torchaudio at the top but only uses it in its command-line
  file reader; torchaudio is not installable here, so while importing we put an empty
  placeholder module in ``sys.modules`` (removed straight after) and never call that reader.
  The embedding is the attention-pooled 200-d vector that enters its final MOS regression
  layer; the predicted MOS (1..5) is appended as the last value when ``include_mos``.
  The model works on 7.68 s segments: a longer clip is cut into as many evenly spaced
  segments as its own code takes, a shorter one is zero-padded to 7.68 s (``pad_short``,
  the model's own behaviour) or, with ``pad_short: false``, run at its own length — its
  CNN is convolutional and its attention pooling takes any length, so only the
  sinusoidal position encoding is cut to the clip's frames. That costs a 4 s clip about
  half as much; the EER change is measured in bench/bench_distillmos_crop.py.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import sys
import types
from pathlib import Path

import numpy as np

from scaa.encoders.base import Encoder, check_waves
from scaa.registry import ENCODERS


def _require(module: str, install: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"the {module} encoder needs: {install}") from err


@contextlib.contextmanager
def _torchaudio_placeholder():
    """Let a module that imports torchaudio without needing it load when torchaudio is absent."""
    if importlib.util.find_spec("torchaudio") is not None or "torchaudio" in sys.modules:
        yield
        return
    stub = types.ModuleType("torchaudio")

    def _missing(name):
        if name.startswith("__") and name.endswith("__"):  # __file__, __path__, ...: what
            raise AttributeError(name)  # inspect and importlib probe on every loaded module
        raise ImportError(f"torchaudio is not installed (torchaudio.{name} was requested)")

    stub.__getattr__ = _missing  # type: ignore[attr-defined]
    sys.modules["torchaudio"] = stub
    try:
        yield
    finally:
        sys.modules.pop("torchaudio", None)


class _TorchEncoder(Encoder):
    batch_seconds = 64.0

    def set_threads(self, n: int) -> None:
        import torch

        torch.set_num_threads(max(1, int(n)))

    _check = staticmethod(check_waves)


@ENCODERS.register("resemblyzer")
class ResemblyzerEncoder(_TorchEncoder):
    """GE2E speaker embedding (resemblyzer wheel): L2-normed mean of 1.6 s partial embeddings."""

    def __init__(self, preprocess: bool = True, rate: float = 1.3, min_coverage: float = 0.75):
        import torch

        resemblyzer = _require("resemblyzer", "pip install --no-deps resemblyzer==0.1.4 webrtcvad==2.0.10")
        from resemblyzer import hparams

        self.hp, self.preprocess, self.rate, self.min_coverage = hparams, preprocess, rate, min_coverage
        self.lstm = torch.nn.LSTM(hparams.mel_n_channels, hparams.model_hidden_size,
                                  hparams.model_num_layers, batch_first=True)
        self.linear = torch.nn.Linear(hparams.model_hidden_size, hparams.model_embedding_size)
        weights = Path(resemblyzer.__file__).parent / "pretrained.pt"
        state = torch.load(weights, map_location="cpu", weights_only=True)["model_state"]
        for name, module in (("lstm", self.lstm), ("linear", self.linear)):
            module.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(name + ".")})
            module.eval()

    def _partials(self, wave):
        from resemblyzer import VoiceEncoder, audio

        if self.preprocess:
            trimmed = audio.preprocess_wav(wave.astype(np.float32))
            # VAD can remove everything from non-speech or very short clips: keep the clip then
            wave = trimmed if trimmed.size >= self.hp.sampling_rate // 10 else \
                audio.normalize_volume(wave, self.hp.audio_norm_target_dBFS, increase_only=True)
        wav_slices, mel_slices = VoiceEncoder.compute_partial_slices(wave.size, self.rate, self.min_coverage)
        if wav_slices[-1].stop >= wave.size:
            wave = np.pad(wave, (0, wav_slices[-1].stop - wave.size))
        mel = audio.wav_to_mel_spectrogram(wave)
        return np.stack([mel[s] for s in mel_slices])

    def encode(self, waves):
        import torch

        self._check(waves)
        parts = [self._partials(np.asarray(w, dtype=np.float32)) for w in waves]
        with torch.inference_mode():
            _, (hidden, _) = self.lstm(torch.from_numpy(np.concatenate(parts)))
            emb = torch.relu(self.linear(hidden[-1]))
            emb = emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12)
        out, start = [], 0
        for p in parts:
            mean = emb[start:start + len(p)].mean(0).numpy()
            start += len(p)
            out.append((mean / max(np.linalg.norm(mean), 1e-12)).astype(np.float32))
        return out

    def describe(self):
        return {"dim": int(self.hp.model_embedding_size), "weights": "resemblyzer 0.1.4 pretrained.pt"}


@ENCODERS.register("distillmos")
class DistillMOSEncoder(_TorchEncoder):
    """DistillMOS speech-quality model (wheel weights): pooled 200-d embedding (+ predicted MOS)."""

    def __init__(self, include_mos: bool = True, dtype: str = "float32", pad_short: bool = True):
        if dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be float32 or bfloat16, not {dtype!r}")
        _require("xls_r_sqa", "pip install --no-deps xls-r-sqa==0.1.0")
        with _torchaudio_placeholder():
            sqa = _require("distillmos.sqa", "pip install --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0")
        with contextlib.redirect_stdout(io.StringIO()):  # it prints where it loaded weights from
            self.model = sqa.ConvTransformerSQAModel(load_weights=True).eval()
        self.dtype_name = dtype  # bfloat16 through autocast: its CNN mixes in float32 internals
        self.seq_len, self.hop = sqa.SEQ_LEN, sqa.MAX_HOP_LEN
        self.include_mos = include_mos
        self.pad_short = bool(pad_short)

    def segments(self, wave: np.ndarray) -> np.ndarray:
        """The model's own cropping: pad to 7.68 s, or evenly spaced 7.68 s crops of longer clips."""
        over = wave.size - self.seq_len
        if over <= 0:
            return np.pad(wave, (0, -over))[None] if self.pad_short else wave[None]
        n = int(np.ceil(over / self.hop)) + 1
        starts = [int(c * over) for c in np.linspace(0, 1, n)]
        return np.stack([wave[s:s + self.seq_len] for s in starts])

    def embed_segments(self, x):
        """[N, 122880] tensor -> (pooled [N, 200], MOS [N]) following the model's forward."""
        import torch

        m = self.model
        x = x / (x.abs().max(dim=1, keepdim=True).values + 1e-8)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.dtype_name == "bfloat16"):
            pooled, mos = self._forward(m, x)
        return pooled.float(), mos.float()

    @staticmethod
    def _forward(m, x):
        import torch

        feat = m.cnn(x).permute(0, 2, 1)
        head = m.transformer_pool_attn
        h = head.norm_input(feat.transpose(-1, -2)).transpose(-1, -2)
        t = head.transformer  # its forward, with the position encoding cut to the segment's frames
        h = t.norm(h.transpose(-1, -2)).transpose(-1, -2)
        h = t.linear_proj(h)
        h = t.transformer_encoder(h + t.position_encoding.pe[:, :h.shape[1]], None)
        h = head.norm_trans(h.transpose(-1, -2)).transpose(-1, -2)
        pool = head.pool
        att = pool.linear2(pool.activation(pool.linear1(h))).transpose(2, 1)
        pooled = torch.bmm(torch.softmax(att, dim=2), h).squeeze(1)
        mos = 1 + 4 * torch.sigmoid(pool.linear3(pooled)).squeeze(-1)
        return pooled, mos

    def encode(self, waves):
        import torch

        self._check(waves)
        segs = [self.segments(np.asarray(w, dtype=np.float32)) for w in waves]
        # segments of one length run as one batch (all of them, unless pad_short is off)
        by_len: dict[int, list[int]] = {}
        for i, s in enumerate(segs):
            by_len.setdefault(s.shape[1], []).append(i)
        results: list = [None] * len(segs)
        with torch.inference_mode():
            for members in by_len.values():
                pooled, mos = self.embed_segments(torch.from_numpy(np.concatenate([segs[i] for i in members])))
                start = 0
                for i in members:
                    sl = slice(start, start + len(segs[i]))
                    start += len(segs[i])
                    results[i] = (pooled[sl].mean(0).numpy(), mos[sl].mean().item())
        out = []
        for vec, mos_value in results:
            if self.include_mos:
                vec = np.append(vec, mos_value)
            out.append(vec.astype(np.float32))
        return out

    def describe(self):
        return {"dim": 200 + int(self.include_mos), "weights": "distillmos 0.9.1 distill_mos_v7.pt",
                "dtype": self.dtype_name, "pad_short": self.pad_short}
