"""A fusion directory as a detector: each member cell scores the file's windows once, the fused window scores are averaged.

P(spoof) and the decision come from a calibrator and EER threshold fitted on the
fusion's dev scores; files go through the one scoring path (:mod:`scaa.inference.pipeline`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from scaa import metrics, modeldir
from scaa.fuser import FUSION_FILE
from scaa.inference.pipeline import Scorer


class FusedDetector(Scorer):
    """``scaa detect`` with a fusion directory: each member scores the file's windows once
    (one decode per file), the windows' fused scores are averaged, and P(spoof) and the
    decision come from a calibrator and EER threshold fitted on the fusion's dev scores.
    Files go through the one scoring path (:class:`scaa.inference.pipeline.Scorer`)."""

    def __init__(self, members: list, weights: np.ndarray, bias: float, calibrator, threshold: float,
                 run_dir: str | Path):
        self.members, self.weights, self.bias = members, np.asarray(weights, np.float64), float(bias)
        self.calibrator, self.threshold, self.run_dir = calibrator, float(threshold), str(run_dir)

    @staticmethod
    def is_fusion(path: str | Path) -> bool:
        return (Path(path) / FUSION_FILE).is_file()

    @classmethod
    def from_dir(cls, fusion_dir: str | Path, calibration_method: str = "platt", **member_kw) -> "FusedDetector":
        import pandas as pd

        from scaa import calibration
        from scaa.inference.detector import Detector, ModelError

        fusion_dir = Path(fusion_dir)
        modeldir.verify(fusion_dir)
        try:
            fusion = json.loads((fusion_dir / FUSION_FILE).read_text())
            members = fusion["members"]
            weights = [float(m["weight"]) for m in members]
            dev = pd.read_parquet(fusion_dir / "dev_scores.parquet")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelError(f"{fusion_dir}: not a usable fusion directory ({err})") from err
        s, y = dev["score"].to_numpy(np.float64), dev["label"].to_numpy()
        _, thr = metrics.eer_and_threshold(s, y)
        detectors = [Detector.from_run(m["run_dir"], calibration_method=calibration_method, **member_kw)
                     for m in members]
        return cls(detectors, np.asarray(weights), float(fusion["bias"]), calibration.fit(calibration_method, s, y),
                   thr, fusion_dir)

    def warm_up(self, seconds: float = 1.0) -> None:
        for d in self.members:
            d.warm_up(seconds)

    def features(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """The windows' waveforms themselves: each member encodes them in :meth:`member_scores`."""
        return [np.asarray(w, dtype=np.float32) for w in waves]

    def member_scores(self, waves: list[np.ndarray]) -> np.ndarray:
        """[windows, members]: each member's raw scores of the windows (one batch per member)."""
        return np.stack([d.raw_scores(waves) for d in self.members], axis=1)

    def combine(self, per_member: np.ndarray) -> np.ndarray:
        return self.bias + per_member @ self.weights

    def member_fields(self, per_member: np.ndarray) -> dict:
        return {"members": [{"run_dir": d.run_dir, "weight": float(w), "score": float(np.mean(per_member[:, i]))}
                            for i, (d, w) in enumerate(zip(self.members, self.weights))]}
