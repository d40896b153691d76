"""Energy and CO2-equivalent of one workflow job, measured with CodeCarbon offline.

``with track(path, task=..., country_iso_code="DEU") as rec:`` runs CodeCarbon's
:class:`OfflineEmissionsTracker` (no network: the grid's carbon intensity comes from the
country code; API, Prometheus and file outputs are off) in ``process`` mode, so jobs
running side by side are each charged their own CPU share. The JSON written on exit
holds kWh, kg CO2eq and the *method*: power counters (RAPL) where the machine has them,
otherwise CodeCarbon's estimate from the CPU's TDP (its table, or 4 W per thread when
the model is unknown) times this process's CPU load, plus a RAM estimate.

Energy is a side measurement: a missing package, a tracker that fails to start or stop,
or ``enabled: false`` gives ``status: "unavailable"`` with the reason, never a failed job.
"""
from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from pathlib import Path

from scaa.extras import require

log = logging.getLogger("scaa.energy")

METHODS = {
    "intel_rapl": "RAPL power counters",
    "cpu_load": "estimate: CPU TDP x process CPU load (no power counters)",
    "constant": "estimate: constant CPU power (TDP), no load data",
    "powermetrics": "powermetrics counters (macOS)",
    "intel_power_gadget": "Intel Power Gadget counters",
}


def _start(country_iso_code: str):
    tracker = require("codecarbon").OfflineEmissionsTracker(
        country_iso_code=country_iso_code, tracking_mode="process", measure_power_secs=15,
        output_methods=[],  # no CSV, API, Prometheus, Logfire or logger output: the caller writes JSON
        log_level="error", allow_multiple_runs=True)
    tracker.start()
    return tracker


def _method(tracker) -> dict:
    out = {}
    for hw in getattr(tracker, "_hardware", []):
        kind = type(hw).__name__
        if kind == "CPU":
            mode = getattr(hw, "_mode", None)
            out["cpu_mode"] = mode
            out["cpu_power_w"] = getattr(hw, "_tdp", None)
            out["method"] = METHODS.get(mode, f"codecarbon CPU mode {mode}")
        elif kind == "RAM":
            out["ram_method"] = "estimate (codecarbon RAM model)"
        elif kind == "GPU":
            out["gpu"] = "NVML counters"
    out["cpu_model"] = (getattr(tracker, "_conf", {}) or {}).get("cpu_model")
    return out


def measure_stop(tracker) -> dict:
    tracker.stop()
    d = tracker.final_emissions_data
    if d is None:
        raise RuntimeError("codecarbon returned no emissions data")
    return {"status": "ok", "energy_kwh": float(d.energy_consumed), "co2_kg": float(d.emissions),
            "cpu_kwh": float(d.cpu_energy), "ram_kwh": float(d.ram_energy), "gpu_kwh": float(d.gpu_energy),
            "tracked_seconds": float(d.duration), "country_iso_code": d.country_iso_code,
            "codecarbon_version": d.codecarbon_version, **_method(tracker)}


@contextmanager
def track(out_path: str | Path | None, *, task: str, country_iso_code: str = "USA", enabled: bool = True):
    """Measure the body; yields a dict the caller may add counts to (e.g. ``clips``)."""
    record: dict = {"task": task, "status": "unavailable"}
    tracker = None
    if not enabled:
        record["reason"] = "energy.enabled is false"
    else:
        try:
            tracker = _start(country_iso_code)
        except Exception as err:  # noqa: BLE001 - energy must never fail the job
            record["reason"] = f"tracker did not start: {type(err).__name__}: {err}"
            log.warning("energy unavailable: %s", record["reason"])
    t0 = time.perf_counter()
    try:
        yield record
    finally:
        record["seconds"] = round(time.perf_counter() - t0, 3)
        if tracker is not None:
            try:
                record.update(measure_stop(tracker))
                record.pop("reason", None)
            except Exception as err:  # noqa: BLE001
                record["status"] = "unavailable"
                record["reason"] = f"tracker did not stop cleanly: {type(err).__name__}: {err}"
                log.warning("energy unavailable: %s", record["reason"])
        if out_path is not None:
            Path(out_path).parent.mkdir(parents=True, exist_ok=True)
            Path(out_path).write_text(json.dumps(record, indent=1))


def read(paths) -> list[dict]:
    """Energy records of the given files; an unreadable file is an 'unavailable' record."""
    out = []
    for p in paths:
        try:
            out.append(json.loads(Path(p).read_text()))
        except (OSError, ValueError) as err:
            out.append({"status": "unavailable", "reason": f"{p}: {type(err).__name__}"})
    return out


def total_kwh(records: list[dict]) -> tuple[float | None, float | None]:
    """(kWh, kg CO2eq) summed over records; None when any record lacks a measurement."""
    if not records or any(r.get("status") != "ok" for r in records):
        return None, None
    return sum(r["energy_kwh"] for r in records), sum(r["co2_kg"] for r in records)


# ---------------------------------------------------------------- summary columns
ENERGY_COLUMNS = ("energy_train_kwh", "co2_train_kg", "energy_features_train_kwh", "energy_kwh_per_1k_detections",
                  "co2_kg_per_1k_detections", "energy_method")


def _feature_key(path: str) -> tuple[str, str, str, str] | None:
    """results/features/{dataset}/{encoder}/{view}/{freeze}/shard*.energy.json -> the 4 names."""
    parts = Path(path).parts
    if "features" not in parts:
        return None
    i = parts.index("features")
    return tuple(parts[i + 1:i + 5]) if len(parts) >= i + 6 else None


def _per_clip(records: list[dict]) -> tuple[float | None, float | None]:
    kwh, co2 = total_kwh(records)
    clips = sum(int(r.get("clips") or 0) for r in records)
    if kwh is None or not clips:
        return None, None
    return kwh / clips, co2 / clips


def summary_columns(table, energy_paths: list[str], view_names, corpora_of=None) -> "pd.DataFrame":
    """Energy columns per summary row (cell x eval dataset).

    - training: the train_cell job (head fit + dev scoring);
    - features for training: every feature shard of the training set this cell reads
      (shared with other cells of the same encoder and views: not a per-cell cost);
    - per 1,000 detections: 1,000 x (extraction energy per clip of the eval dataset's
      clean features + scoring energy per clip of this cell), i.e. encoder + head.
    A value is empty where any record it needs is unavailable. ``corpora_of(train_dataset)``
    gives (corpora trained on, corpora selected on) for a training set (scaa.plan.training_sets);
    by default a train dataset is one corpus.
    """
    import pandas as pd

    corpora_of = corpora_of or (lambda name: ([name], [name]))

    feats: dict[tuple, list[dict]] = {}
    for p in energy_paths:
        key = _feature_key(p)
        if key is not None:
            feats.setdefault(key, []).extend(read([p]))
    out = table.copy()
    for col in ENERGY_COLUMNS:
        out[col] = None
    for i, row in out.iterrows():
        if row.get("encoder") == "fusion":  # no job of its own to measure: its members' rows have the costs
            out.at[i, "energy_method"] = "fusion: see its member cells"
            continue
        run = Path(str(row["run_dir"]))
        train = read([run / "energy_train.json"])
        out.at[i, "energy_train_kwh"], out.at[i, "co2_train_kg"] = total_kwh(train)
        trains_on, selects_on = corpora_of(str(row["train_dataset"]))
        used = [(ds, row["encoder"], v, row["freeze"])
                for ds in trains_on for v in sorted(set(view_names(row["view"])) | {"none"})]
        used += [(ds, row["encoder"], "none", row["freeze"]) for ds in selects_on if ds not in trains_on]
        recs = [r for k in used for r in feats.get(k, [])]
        out.at[i, "energy_features_train_kwh"] = total_kwh(recs)[0] if all(k in feats for k in used) else None
        ext = _per_clip(feats.get((row["eval_dataset"], row["encoder"], "none", row["freeze"]), []))
        score = _per_clip(read([run / "scores" / f"{row['eval_dataset']}.energy.json"]))
        if ext[0] is not None and score[0] is not None:
            out.at[i, "energy_kwh_per_1k_detections"] = 1000 * (ext[0] + score[0])
            out.at[i, "co2_kg_per_1k_detections"] = 1000 * (ext[1] + score[1])
        methods = sorted({r.get("method") for r in train if r.get("status") == "ok" and r.get("method")})
        reasons = sorted({r.get("reason", "") for r in train if r.get("status") != "ok"})
        out.at[i, "energy_method"] = "; ".join(methods) if methods else \
            "energy unavailable" + (f" ({'; '.join(reasons)})" if reasons else "")
    for col in ENERGY_COLUMNS[:-1]:
        out[col] = pd.to_numeric(out[col], errors="coerce")
    return out
