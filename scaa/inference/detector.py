"""A trained cell as a detector: encoder + head loaded once, calibrated on dev.

Calibration (Platt by default) and the decision threshold (the dev EER threshold,
"spoof iff score >= threshold") come from the cell's **dev** scores only, never eval.
They are fitted in memory at load (milliseconds): the run directory is only read, so a
read-only or shared model directory works and is never changed.

A run directory is data. Before anything in it is deserialised its checksums are verified
(:mod:`scaa.modeldir`), and plugin modules it names are imported only when the caller
allows them (``allow_plugins``), never from the directory itself.

Long files are cut into windows (default 4 s, hop 2 s; the last window is aligned to
the end of the file so no tail is dropped). Each window gets a score; the **file score
is the mean of the window scores** and P(spoof) / the decision are derived from it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml

from scaa import calibration, metrics, modeldir
from scaa.dsp import audio
from scaa.inference.pipeline import Prepared, Scorer, check_windowing, windows  # noqa: F401 (the latter three re-exported)
from scaa.inference.quantize import NO_INT8_LAYERS, quantize_int8
from scaa.threads import limit_threads

DEV_SCORE_FILES = ("dev_scores.parquet", "scores/dev.parquet")

# the run directory cannot be used as a detector (missing or changed files, bad spec)
ModelError = modeldir.ModelDirError


def dev_scores_path(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    for name in DEV_SCORE_FILES:
        if (run_dir / name).is_file():
            return run_dir / name
    raise ModelError(f"{run_dir}: no dev scores ({' or '.join(DEV_SCORE_FILES)}); was the cell trained?")


def fit_calibration(run_dir: str | Path, method: str = "platt") -> dict:
    """Calibrator params + EER threshold from the dev scores, fitted in memory."""
    dev_path = dev_scores_path(run_dir)
    try:
        dev = pq.read_table(dev_path, columns=["score", "label"])  # pyarrow: pandas costs 0.3 s to import
        s, y = dev["score"].to_numpy().astype(np.float64), dev["label"].to_numpy()
    except Exception as err:
        raise ModelError(f"{dev_path}: cannot read the dev scores ({type(err).__name__}: {err})") from err
    eer, thr = metrics.eer_and_threshold(s, y)
    return {"calibration": calibration.fit(method, s, y).to_dict(), "threshold": thr, "dev_eer": eer,
            "dev_clips": int(len(dev)), "dev_file": dev_path.name,
            "note": "fitted on the dev split only; spoof iff score >= threshold"}


def read_cell_spec(run_dir: Path, allow_plugins=()) -> tuple[dict, list[str]]:
    """(spec, plugins to load) of a checksum-verified cell directory; nothing is imported."""
    cfg = run_dir / "config.yaml"
    if not cfg.is_file():
        raise ModelError(f"{run_dir}: no config.yaml; not a trained cell directory")
    modeldir.verify(run_dir)
    try:
        spec = yaml.safe_load(cfg.read_text()) or {}
    except yaml.YAMLError as err:
        raise ModelError(f"{cfg}: not valid YAML ({err})") from err
    if not isinstance(spec, dict):
        raise ModelError(f"{cfg}: expected a mapping")
    for key in ("encoder", "head"):
        if key not in spec:
            raise ModelError(f"{cfg}: has no {key!r}")
    return spec, modeldir.check_plugins(spec.get("plugins"), allow_plugins, run_dir)


class Detector(Scorer):
    """Score waveforms/files with one trained cell (higher score = more likely spoof);
    files go through the one scoring path (:class:`scaa.inference.pipeline.Scorer`)."""

    def __init__(self, encoder, head, spec: dict, calib: dict | None, run_dir: str | Path | None = None):
        self.encoder, self.head, self.spec = encoder, head, spec
        self.run_dir = None if run_dir is None else str(run_dir)
        self.calib, self._int8_done = None, None
        if calib is not None:
            self._calibrate(calib)

    def _calibrate(self, calib: dict) -> None:
        self.calibrator = calibration.from_dict(calib["calibration"])
        self.threshold = float(calib["threshold"])
        self.calib = calib

    @classmethod
    def from_run(cls, run_dir: str | Path, calibration_method: str = "platt", threads: int | None = None,
                 quantize: str | None = None, dtype: str | None = None,
                 allow_plugins: list[str] | tuple = ()) -> "Detector":
        """Load encoder and head of a trained cell. ``quantize='int8'`` applies torch dynamic
        int8 quantisation to every nn.Linear of the head and encoder (where there are any);
        ``dtype='bfloat16'`` runs an encoder that has a ``dtype`` option (SSL encoders, DistillMOS)
        in bfloat16 whatever precision its features were extracted with for training.
        ``allow_plugins``: plugin modules the caller trusts; a model naming any other is refused."""
        det = cls.front_end(run_dir, threads=threads, quantize=quantize, dtype=dtype, allow_plugins=allow_plugins)
        det.load_head(calibration_method)
        return det

    @classmethod
    def front_end(cls, run_dir: str | Path, threads: int | None = None, quantize: str | None = None,
                  dtype: str | None = None, allow_plugins: list[str] | tuple = ()) -> "Detector":
        """The first half of :meth:`from_run`: the cell's encoder, no head yet (``head`` is
        None until :meth:`load_head`). Enough to :meth:`prepare` files, which is what
        ``scaa detect --jobs`` workers do while this process loads the head.
        A ``pretrained:NAME`` instead of a directory builds that pretrained model
        (:mod:`scaa.inference.pretrained`; nothing is read but its pinned weight file)."""
        from scaa.inference import pretrained

        if pretrained.is_pretrained(run_dir):
            return pretrained.front_end(run_dir, cls, threads=threads, quantize=quantize, dtype=dtype,
                                        allow_plugins=allow_plugins)
        run_dir = Path(run_dir)
        spec, plugins = read_cell_spec(run_dir, allow_plugins)
        dev_scores_path(run_dir)  # an untrained cell is refused before anything is built
        from scaa.encoders.build import build_encoder
        from scaa.registry import load_plugins

        load_plugins(plugins)
        if threads:
            limit_threads(threads)
        enc_spec = spec["encoder"]
        if dtype:
            if not encoder_has_dtype(enc_spec):
                raise ModelError(f"encoder {enc_spec.get('type')!r} has no dtype option (wav2vec2, hubert, wavlm and distillmos have one)")
            enc_spec = {**enc_spec, "dtype": dtype}
        # an encoder with its own quantize option (the SSL encoders) quantises itself, so
        # that its fast paths know; the others get the generic nn.Linear replacement
        own_quantize = bool(quantize) and encoder_has_option(enc_spec, "quantize")
        if own_quantize:
            enc_spec = {**enc_spec, "quantize": quantize}
        encoder = build_encoder(enc_spec, spec.get("freeze", "frozen"))
        if threads:
            encoder.set_threads(threads)
        det = cls(encoder, None, spec, None, run_dir)
        if quantize:
            det._int8_done = (["encoder (its own quantize option)"] if own_quantize
                              else quantize_int8(encoder, None, require=False))
        return det

    def load_head(self, calibration_method: str = "platt") -> None:
        """The second half of :meth:`from_run`: calibration and threshold from the dev
        scores, and the head (int8 too when the encoder was quantised). A pretrained model
        fits nothing: its own softmax and threshold 0 (:func:`scaa.inference.pretrained.load_head`)."""
        from scaa.inference import pretrained
        from scaa.heads.build import build_head

        if pretrained.is_pretrained(self.run_dir):
            pretrained.load_head(self)
            return

        calib = fit_calibration(self.run_dir, calibration_method)
        head = build_head(self.spec, Path(self.run_dir))
        if self._int8_done is not None:
            if not self._int8_done + quantize_int8(None, head, require=False):
                raise ValueError(NO_INT8_LAYERS)
        self.head = head
        self._calibrate(calib)

    # -- scoring ----------------------------------------------------------------
    def features(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """The encoder's float32 features of each waveform."""
        return [np.asarray(f, dtype=np.float32) for f in self.encoder.encode(waves)]

    def head_scores(self, feats: list[np.ndarray]) -> np.ndarray:
        """The head's score of each waveform's features."""
        X = np.stack(feats) if getattr(self.head, "needs", "pooled") == "pooled" else feats
        scores = np.asarray(self.head.decision_function(X), dtype=np.float64)
        if scores.shape != (len(feats),) or not np.isfinite(scores).all():
            raise ModelError(f"head returned bad scores {scores!r}")
        return scores

    def member_scores(self, feats: list[np.ndarray]) -> np.ndarray:
        """The head's scores as the one member's column [windows, 1]."""
        return self.head_scores(feats)[:, None]

    def raw_scores(self, waves: list[np.ndarray]) -> np.ndarray:
        """Features + head for each waveform (what the latency benchmark times)."""
        return self.head_scores(self.features(waves))

    def warm_up(self, seconds: float = 1.0) -> None:
        """Resample and score one synthetic clip, so lazy imports (resampler included) and
        first-call costs stay out of the first file's latency. Before :meth:`load_head`, the
        front end alone is warmed."""
        rate = 22_050  # not the model rate: goes through the resampler like most real files
        t = np.arange(int(seconds * rate)) / rate
        wave = audio.prepare((0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), rate)
        feats = self.features([wave])
        if self.calib is not None:  # the head is loaded
            self.head_scores(feats)


def encoder_has_option(encoder_spec: dict, option: str) -> bool:
    """Whether the encoder class takes an ``option`` argument (checked without building it)."""
    import inspect

    from scaa.registry import ENCODERS

    cls = ENCODERS.get(encoder_spec.get("type", ""))
    return option in inspect.signature(cls).parameters


def encoder_has_dtype(encoder_spec: dict) -> bool:
    """Whether the encoder class takes a ``dtype`` argument (checked without building it)."""
    return encoder_has_option(encoder_spec, "dtype")
