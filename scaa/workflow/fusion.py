"""Score fusion: a linear logistic-regression fuser over named cells' scores.

The fuser is fitted on dev only (the BOSARIS / ASVspoof convention), then scored,
calibrated and bootstrapped like any cell.

fused(x) = bias + sum_i weight_i * score_i(x), with weights and bias chosen to minimise
the prior-weighted cross-entropy on dev (prior 0.5: both classes count equally), so the
fused score is a log-likelihood ratio on dev. Weights apply to the members' raw scores
and are saved, with the member run directories, as ``fusion.json``: plain data that
:class:`FusedDetector` reads back without importing anything named in it.

A fusion cell lives in ``results/fusions/<name>/seed<seed>/`` (fusion.json,
dev_scores.parquet, scores/<eval>.parquet, metrics/<eval>.json). Its dev EER is an
in-sample figure (the fuser was fitted on those clips); eval is the honest number.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scaa import metrics, modeldir

if TYPE_CHECKING:
    import pandas as pd

META = ["utt_id", "split", "label", "attack", "speaker"]
FUSION_FILE = "fusion.json"
FUSION_DIR = "results/fusions/{fusion}/seed{seed}"  # a fusion cell's directory (Snakemake wildcards)


# ---------------------------------------------------------------- the fuser
def fit_weights(S: np.ndarray, y: np.ndarray, prior: float = 0.5, l2: float = 1e-4) -> tuple[np.ndarray, float]:
    """(weights [k], bias) on raw scores S [n, k] for labels y (1 = spoof).

    Minimises prior * mean_spoof softplus(-f) + (1 - prior) * mean_bona softplus(f) with
    f = S w + b + logit(prior), plus l2/2 |w|^2 on standardised scores (BOSARIS
    ``train_linear_fuser``); the returned fused score S w + b is then a dev-calibrated LLR.
    """
    from scipy.optimize import minimize

    S, y = np.asarray(S, np.float64), np.asarray(y).astype(int)
    if S.ndim != 2 or S.shape[0] != y.size:
        raise ValueError(f"scores must be [n, k] with one label per row; got {S.shape} and {y.shape}")
    if not np.isfinite(S).all():
        raise ValueError("member scores contain NaN or inf")
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError(f"fusion needs dev clips of both classes (bona fide {n0}, spoof {n1})")
    if not 0 < prior < 1:
        raise ValueError("prior must be in (0, 1)")
    mu, sd = S.mean(0), S.std(0)
    sd[sd < 1e-12] = 1.0
    Z = (S - mu) / sd
    t = np.where(y == 1, 1.0, -1.0)
    cw = np.where(y == 1, prior / n1, (1 - prior) / n0)
    offset = math.log(prior / (1 - prior))

    def objective(theta):
        w, b = theta[:-1], theta[-1]
        f = Z @ w + b + offset
        m = -t * f
        loss = float(np.sum(cw * np.logaddexp(0.0, m))) + 0.5 * l2 * float(w @ w)
        g_f = cw * (-t) / (1.0 + np.exp(-m))  # d softplus(m)/df
        grad = np.concatenate([Z.T @ g_f + l2 * w, [g_f.sum()]])
        return loss, grad

    res = minimize(objective, np.zeros(S.shape[1] + 1), jac=True, method="L-BFGS-B",
                   options={"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-14})
    w_z, b_z = res.x[:-1], float(res.x[-1])
    w = w_z / sd
    return w, b_z - float(np.sum(w * mu))


def join(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, np.ndarray]:
    """Clips every member scored (inner join on utt_id): metadata and scores [n, k]."""
    base = frames[0][META].copy()
    for i, f in enumerate(frames):
        missing = [c for c in META + ["score"] if c not in f.columns]
        if missing:
            raise ValueError(f"member {i} scores lack columns {missing}")
        base = base.merge(f[["utt_id", "score"]].rename(columns={"score": f"s{i}"}), on="utt_id", how="inner",
                          validate="1:1")
    S = base[[f"s{i}" for i in range(len(frames))]].to_numpy(np.float64)
    return base[META].reset_index(drop=True), S


def apply(fusion: dict, frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Fused scores (columns utt_id, split, label, attack, speaker, score)."""
    w = np.asarray([m["weight"] for m in fusion["members"]], np.float64)
    if len(frames) != w.size:
        raise ValueError(f"fusion has {w.size} members but {len(frames)} score files were given")
    meta, S = join(frames)
    out = meta.copy()
    out["score"] = S @ w + float(fusion["bias"])
    return out


def fit(members: list[dict], dev_frames: list[pd.DataFrame], prior: float = 0.5, l2: float = 1e-4) -> dict:
    """The fusion.json content: ``members`` (run_dir + cell each) get their weights."""
    meta, S = join(dev_frames)
    y = meta["label"].to_numpy().astype(int)
    w, b = fit_weights(S, y, prior, l2)
    fused = S @ w + b
    return {
        "type": "linear_logistic", "fitted_on": "dev", "prior": prior, "l2": l2, "bias": b,
        "members": [{**m, "weight": float(wi)} for m, wi in zip(members, w)],
        "n_dev": {"bonafide": int((y == 0).sum()), "spoof": int((y == 1).sum()),
                  "dropped": int(max(len(f) for f in dev_frames) - len(meta))},
        "dev_eer": {"fused_in_sample": metrics.eer(fused, y),
                    "members": [metrics.eer(S[:, i], y) for i in range(S.shape[1])]},
        "note": "weights apply to raw member scores; fused score = bias + sum(weight * score)",
    }


# ---------------------------------------------------------------- fusion cells (workflow)
@dataclass(frozen=True)
class FusionCell:
    name: str
    seed: int
    members: tuple  # of scaa.grid.Cell
    seeds: tuple = ()  # the seeds it stands for, when its members are the same cells at each

    @property
    def run_dir(self) -> str:
        return FUSION_DIR.format(fusion=self.name, seed=self.seed)

    def row(self) -> dict:
        """The summary's cell columns: encoder 'fusion', head = the fusion's name."""
        ds = sorted({m.train_dataset for m in self.members})
        rs = sorted({m.resynth for m in self.members})
        return {"train_dataset": "+".join(ds), "encoder": "fusion", "view": "-", "loss": "-", "head": self.name,
                "freeze": "-", "seed": self.seed, "resynth": "+".join(rs),
                "seeds": ",".join(str(s) for s in (self.seeds or (self.seed,)))}

    def spec(self, config: dict) -> dict:
        fz = config["fusions"][self.name]
        return {"name": self.name, "seed": self.seed, "prior": float(fz.get("prior", 0.5)),
                "l2": float(fz.get("l2", 1e-4)),
                "members": [{"run_dir": m.run_dir, "cell": {**m.as_dict(), "resynth": m.resynth}}
                            for m in self.members]}


def expand(config: dict, cells: list) -> tuple[list[FusionCell], list[dict]]:
    """Fusion cells of the config (one per seed whose members all ran) and the skipped ones.

    A member is a partial cell; it must match exactly one runnable cell at each seed
    (without ``seed`` it takes the fusion's seed; without ``resynth`` it means none). A
    seed-independent cell, trained once, matches every seed of the grid it stands for, so a
    fusion whose members are all seed-independent has the same members (and the same fit)
    at every seed: it is one cell, at its smallest seed, that stands for them all."""
    from scaa.grid import NO_RESYNTH, seed_independent

    out, skipped = [], []
    seeds_all = [int(s) for s in (config.get("ablation") or {}).get("seed", [config.get("seed", 0)])]
    heads = config.get("heads") or {}

    def at_seed(cell, seed: int) -> bool:
        return int(cell.seed) == seed or (
            seed in seeds_all and cell.head in heads and seed_independent(config, cell))

    for name, fz in (config.get("fusions") or {}).items():
        for seed in [int(s) for s in fz.get("seeds", seeds_all)]:
            members, why = [], None
            for m in fz["members"]:
                want = {"resynth": NO_RESYNTH, **m}
                want_seed = int(want.pop("seed", seed))
                hits = [c for c in cells if all(str(getattr(c, k)) == str(v) for k, v in want.items())
                        and at_seed(c, want_seed)]
                if len(hits) != 1:
                    why = (f"member {m} matches {len(hits)} runnable cells at seed {seed}"
                           + (": " + ", ".join(h.name for h in hits[:4]) if hits else ""))
                    break
                members.append(hits[0])
            if why is None and len(set(members)) < len(members):
                why = "two members name the same cell"
            if why:
                skipped.append({"fusion": name, "seed": seed, "reason": why})
                continue
            twin = next((i for i, f in enumerate(out) if f.name == name and f.members == tuple(members)), None)
            if twin is None:
                out.append(FusionCell(name, seed, tuple(members), (seed,)))
            else:  # the same members as at an earlier seed: that cell stands for this seed too
                out[twin] = replace(out[twin], seeds=(*out[twin].seeds, seed))
    return out, skipped


def fit_cell(spec: dict, dev_paths: list[str], out_dir: str | Path) -> dict:
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = [pd.read_parquet(p) for p in dev_paths]
    fusion = fit(spec["members"], frames, spec.get("prior", 0.5), spec.get("l2", 1e-4))
    fusion.update({"name": spec["name"], "seed": spec["seed"]})
    (out_dir / FUSION_FILE).write_text(json.dumps(fusion, indent=1))
    apply(fusion, frames).to_parquet(out_dir / "dev_scores.parquet", index=False)
    modeldir.seal(out_dir)  # a fusion directory is a model directory: verified before use
    return fusion


def score_cell(fusion_path: str | Path, member_paths: list[str], out_path: str | Path) -> int:
    import pandas as pd

    fusion = json.loads(Path(fusion_path).read_text())
    scores = apply(fusion, [pd.read_parquet(p) for p in member_paths])
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    scores.to_parquet(out_path, index=False)
    return len(scores)


def summary_rows(fusions: list[dict], eval_datasets: list[str]) -> pd.DataFrame:
    """Rows like :func:`scaa.report.table.cell_rows` for fusion cells (``fusions``: each
    ``{"row": FusionCell.row(), "run_dir": ...}``)."""
    import pandas as pd

    from scaa.report.table import result_columns

    rows = []
    for f in fusions:
        run = Path(f["run_dir"])
        info = json.loads((run / FUSION_FILE).read_text())
        for ds in eval_datasets:
            result = json.loads((run / "metrics" / f"{ds}.json").read_text())
            row = {**f["row"], "eval_dataset": ds, "run_dir": str(run), **result_columns(result)}
            row["params"] = None
            row["fusion_members"] = " + ".join(f"{m['weight']:+.3g}·{m['run_dir']}" for m in info["members"])
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- detection
class FusedDetector:
    """``scaa detect`` with a fusion directory: each member scores the file's windows once
    (one decode per file), the windows' fused scores are averaged, and P(spoof) and the
    decision come from a calibrator and EER threshold fitted on the fusion's dev scores."""

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
        from scaa.detector import Detector, ModelError

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

    def raw_scores(self, waves: list[np.ndarray]) -> np.ndarray:
        return self.bias + np.stack([d.raw_scores(waves) for d in self.members], axis=1) @ self.weights

    def _verdict(self, score: float) -> dict:
        p = float(self.calibrator.apply(np.asarray([score]))[0])
        return {"score": float(score), "p_spoof": p,
                "decision": "spoof" if score >= self.threshold else "bonafide", "threshold": self.threshold}

    def score_wave(self, wave: np.ndarray) -> dict:
        return self._verdict(float(self.raw_scores([np.asarray(wave, dtype=np.float32)])[0]))

    def score_file(self, path: str | Path, window_s: float = 4.0, hop_s: float = 2.0,
                   max_seconds: float | None = None) -> dict:
        from scaa import audio
        from scaa.detector import check_windowing, windows

        check_windowing(window_s, hop_s)
        t0 = time.perf_counter()
        wave = audio.load(path, max_seconds=max_seconds)
        ranges = windows(len(wave), window_s, hop_s)
        clips = [wave[a:b] for a, b in ranges]
        per_member = np.stack([d.raw_scores(clips) for d in self.members], axis=1)  # [windows, k]
        scores = self.bias + per_member @ self.weights
        out = self._verdict(float(np.mean(scores)))
        probs = self.calibrator.apply(scores)
        sr = audio.SAMPLE_RATE
        out["windows"] = [{"start_s": round(a / sr, 3), "end_s": round(b / sr, 3), "score": float(s),
                           "p_spoof": float(p)} for (a, b), s, p in zip(ranges, scores, probs)]
        out["members"] = [{"run_dir": d.run_dir, "weight": float(w), "score": float(np.mean(per_member[:, i]))}
                          for i, (d, w) in enumerate(zip(self.members, self.weights))]
        out["duration_s"] = round(len(wave) / sr, 3)
        out["latency_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        return out
