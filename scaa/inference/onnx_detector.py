"""A :class:`~scaa.inference.detector.Detector` whose scores come from the run's exported ONNX graph.

The graph (``scaa export RUN_DIR --format onnx``) is run by onnxruntime; calibration,
threshold, windows and the output line are the torch detector's. Used by
``scaa detect --runtime onnx``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from scaa.inference.detector import Detector, ModelError, fit_calibration, read_cell_spec
from scaa.modeldir import sha256
from scaa.inference.export import ONNX_FILE, onnx_score, onnx_session, source_digest


class OnnxDetector(Detector):
    @classmethod
    def from_run(cls, run_dir, onnx_path=None, threads: int | None = None, calibration_method: str = "platt",
                 allow_plugins=()) -> "OnnxDetector":
        run_dir = Path(run_dir)
        path = Path(onnx_path) if onnx_path else run_dir / ONNX_FILE
        meta_path = Path(str(path) + ".json")
        if not path.is_file() or not meta_path.is_file():
            raise ModelError(f"{path}: no ONNX export; run `scaa export {run_dir} --format onnx` first")
        import json

        # the run's checksums first: they cover its own model.onnx and model.onnx.json
        spec, _ = read_cell_spec(run_dir, allow_plugins)
        meta = json.loads(meta_path.read_text())
        if meta.get("source_sha256") != source_digest(run_dir):
            raise ModelError(f"{path} was exported from other weights than {run_dir} holds now; export again")
        if meta.get("onnx_sha256") != sha256(path):
            raise ModelError(f"{path}: the graph's SHA-256 differs from the one recorded at export "
                             f"({meta_path.name}); export again")
        # spec, calibration and threshold as the torch detector's; the encoder and head are not
        # built (every score comes from the graph), so a whisper cell loads no torch weights
        det = cls(None, None, spec, fit_calibration(run_dir, calibration_method), run_dir)
        det.session = onnx_session(str(path), threads or 1)
        det.onnx_path = str(path)
        return det

    def features(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(w, dtype=np.float32) for w in waves]  # the graph starts at the waveform

    def head_scores(self, waves: list[np.ndarray]) -> np.ndarray:
        scores = np.array([onnx_score(self.session, w) for w in waves], dtype=np.float64)
        if scores.shape != (len(waves),) or not np.isfinite(scores).all():
            raise ModelError(f"ONNX graph returned bad scores {scores!r}")
        return scores
