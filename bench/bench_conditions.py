"""Throughput of every channel condition: clips per second, on 1 and on 2 cores.

    python bench/bench_conditions.py [--corpus ../shared/corpora/scaa-dev] [--clips 60] [--out FILE.json]
                                     [--only NAME ...]

Clips are the first ``--clips`` eval files of an ASVspoof 2019 LA tree (decoded once,
not timed); babble draws its talkers from the tree's train bona fide clips. Each
condition runs in process (PyAV for the codecs, no subprocess per clip) with one
thread per worker; "2 cores" is two worker processes sharing the clips, as two
extraction shards run side by side in the workflow. The load average is printed
because a shared machine slows every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = "1"

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from scaa.dsp import audio  # noqa: E402
from scaa.dsp.conditions import ConditionView, view_name  # noqa: E402
from scaa.dsp.views import clip_rng  # noqa: E402

CONDITIONS = {
    "mp3_32": {"type": "codec", "codec": "mp3", "bitrate_kbps": 32},
    "mp3_64": {"type": "codec", "codec": "mp3", "bitrate_kbps": 64},
    "mp3_128": {"type": "codec", "codec": "mp3", "bitrate_kbps": 128},
    "opus_12": {"type": "codec", "codec": "opus", "bitrate_kbps": 12},
    "opus_24": {"type": "codec", "codec": "opus", "bitrate_kbps": 24},
    "aac_32": {"type": "codec", "codec": "aac", "bitrate_kbps": 32},
    "telephone": {"type": "telephone"},
    "white_10db": {"type": "noise", "kind": "white", "snr_db": 10},
    "pink_10db": {"type": "noise", "kind": "pink", "snr_db": 10},
    "babble_10db": {"type": "noise", "kind": "babble", "snr_db": 10},
    "reverb": {"type": "reverb", "rt60_s": [0.3, 1.0]},
    "quiet_-20db": {"type": "gain", "gain_db": -20},
    "packet_loss_10pct": {"type": "packet_loss", "loss_rate": 0.1},
}

_STATE: dict = {}


def train_bonafide(corpus: Path) -> pd.DataFrame:
    la = corpus / "LA"
    proto = la / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.train.trn.txt"
    rows = []
    for line in proto.read_text().splitlines():
        spk, name, _, _, key = line.split()
        if key == "bonafide":
            rows.append({"utt_id": name, "path": str(la / "ASVspoof2019_LA_train" / "flac" / f"{name}.flac"),
                         "label": 0, "split": "train", "speaker": spk})
    return pd.DataFrame(rows)


def _init(spec, manifest):
    view = ConditionView(spec)
    view.prepare(manifest)
    _STATE["view"] = view


def _run(args):
    name, items = args
    view = _STATE["view"]
    for uid, wave in items:
        view(wave, clip_rng(0, uid, view_name(name)))
    return len(items)


def bench(name, spec, clips, manifest, workers: int) -> float:
    chunks = [(name, clips[i::workers]) for i in range(workers)]
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(spec, manifest)) as pool:
        list(pool.map(_run, [(name, c[1][:2]) for c in chunks]))   # warm-up: imports, babble pool
        t0 = time.perf_counter()
        n = sum(pool.map(_run, chunks))
        return n / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(Path(__file__).resolve().parents[2] / "shared/corpora/scaa-dev"))
    ap.add_argument("--clips", type=int, default=60)
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", nargs="*", help="condition names to run (default: all)")
    args = ap.parse_args(argv)
    corpus = Path(args.corpus)
    files = sorted((corpus / "LA" / "ASVspoof2019_LA_eval" / "flac").glob("*.flac"))[:args.clips]
    if not files:
        print(f"no eval clips under {corpus}", file=sys.stderr)
        return 2
    clips = [(f.stem, audio.load(f)) for f in files]
    seconds = sum(w.size for _, w in clips) / audio.SAMPLE_RATE
    manifest = train_bonafide(corpus)
    load = os.getloadavg()[0]
    print(f"{len(clips)} eval clips, {seconds:.1f} s of audio (mean {seconds / len(clips):.2f} s); "
          f"load average at start {load:.1f} on {os.cpu_count()} CPUs\n")
    print("| condition | clips/s, 1 core | clips/s, 2 cores | audio s per wall s, 2 cores |")
    print("|---|---|---|---|")
    results = {}
    for name, spec in CONDITIONS.items():
        if args.only and name not in args.only:
            continue
        one = bench(name, spec, clips, manifest, 1)
        two = bench(name, spec, clips, manifest, 2)
        results[name] = {"spec": spec, "clips_per_s_1core": round(one, 2), "clips_per_s_2cores": round(two, 2),
                         "audio_s_per_s_2cores": round(two * seconds / len(clips), 1)}
        print(f"| {name} | {one:.1f} | {two:.1f} | {two * seconds / len(clips):.0f} |", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"clips": len(clips), "audio_seconds": round(seconds, 1),
                                              "load_average_start": load, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
