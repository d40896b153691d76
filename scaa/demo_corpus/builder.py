"""Plan, generate and write the demo corpus in ASVspoof 2019 LA layout.

The plan (which source, which attack, which file name) is drawn from one seeded RNG
before any audio is made; every clip then gets its own seed, so the output does not
depend on the number of worker processes or the order they finish in.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from scaa.dsp.audio import SAMPLE_RATE
from scaa.demo_corpus import prompts
from scaa.demo_corpus.attacks import ATTACKS, SPLITS, Attack
from scaa.demo_corpus.generators import Finish, Job, make_clip
from scaa.demo_corpus.sources import DEFAULT_SOUNDS_DIR, VOICES, check_requirements, eligible_clips
from scaa.threads import THREAD_VARS

PROTOCOL = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}
NAME_PREFIX = {"train": "LA_T_", "dev": "LA_D_", "eval": "LA_E_"}
MARKER = "attacks.tsv"


ESPEAK_VOICES = {"train": ([("en-us", prompts.TRAIN_EN), ("en-gb-x-rp", prompts.TRAIN_EN),
                            ("es", prompts.TRAIN_ES), ("es-419", prompts.TRAIN_ES)],
                           ("m1", "m3", "f2", "f4")),
                 "dev": ([("fr-fr", prompts.DEV_FR), ("fr-be", prompts.DEV_FR)], ("m2", "f3", "m7"))}
FLITE_VOICES = ("slt", "rms", "awb", "kal16")
CODEC2_MODES = ("1300", "2400", "700C")


def _seed(*parts) -> int:
    """Stable 31-bit seed from any parts (independent of Python's hash randomisation)."""
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:4], "big") >> 1


def plan(seed: int = 2026, n_bonafide: int = 40, n_spoof: int = 40,
         sounds_dir: str | Path = DEFAULT_SOUNDS_DIR) -> list[Job]:
    """Every clip of the corpus, named, before any audio is made.

    ``n_bonafide`` clips per bona fide speaker; ``n_spoof`` clips per attack per split.
    """
    if n_bonafide < 1 or n_spoof < 1:
        raise ValueError("n_bonafide and n_spoof must be at least 1")
    pools = eligible_clips(sounds_dir)
    rng = np.random.default_rng(seed)
    jobs: list[Job] = []
    for split in SPLITS:
        speakers = [v.speaker for v in VOICES if v.split == split]
        queue = {s: [pools[s][i] for i in rng.permutation(len(pools[s]))] for s in speakers}
        split_jobs = []

        def take(spk: str):
            if not queue[spk]:
                raise ValueError(f"not enough eligible Asterisk prompts for {spk}; lower n_bonafide/n_spoof")
            return str(queue[spk].pop(0))

        for spk in speakers:
            split_jobs += [dict(speaker=spk, attack="-", source=take(spk), params={"kind": "bonafide"})
                           for _ in range(n_bonafide)]
        for att in ATTACKS:
            if split in att.splits:
                split_jobs += _spoof_jobs(att, split, n_spoof, speakers, take, rng)
        order = rng.permutation(len(split_jobs))
        for number, idx in enumerate(order, start=1):
            j = split_jobs[idx]
            name = f"{NAME_PREFIX[split]}{1_000_000 + number:07d}"
            jobs.append(Job(name=name, split=split, speaker=j["speaker"], attack=j["attack"],
                            source=j["source"], seed=_seed(seed, name), params=j["params"]))
    return jobs


def _text(sentences: tuple, rng) -> str:
    """One sentence, or two (60 %), so TTS clips are about as long as the prompts."""
    picks = rng.choice(len(sentences), size=2 if rng.random() < 0.6 else 1, replace=False)
    return " ".join(sentences[int(i)] for i in picks)


def _spoof_jobs(att: Attack, split: str, n: int, speakers: list[str], take, rng) -> list[dict]:
    out = []
    if att.kind == "espeak":
        langs, variants = ESPEAK_VOICES[split]
        for i in range(n):
            lang, sentences = langs[i % len(langs)]
            variant = variants[int(rng.integers(len(variants)))]
            voice = f"{lang}+{variant}"
            out.append(dict(speaker=f"espeak_{voice}", attack=att.attack_id,
                            source=_text(sentences, rng),
                            params={"kind": "espeak", "voice": voice, "speed": int(rng.integers(135, 186)),
                                    "pitch": int(rng.integers(30, 71))}))
    elif att.kind == "flite":
        for i in range(n):
            voice = FLITE_VOICES[i % len(FLITE_VOICES)]
            out.append(dict(speaker=f"flite_{voice}", attack=att.attack_id,
                            source=_text(prompts.EVAL_EN, rng),
                            params={"kind": "flite", "voice": voice,
                                    "stretch": round(float(rng.uniform(0.9, 1.15)), 3)}))
    else:  # resynthesis of this split's bona fide speakers (other prompts than the bona fide ones)
        for i in range(n):
            spk = speakers[i % len(speakers)]
            params = {"kind": att.kind}
            if att.kind == "codec2":
                params["mode"] = CODEC2_MODES[int(rng.integers(len(CODEC2_MODES)))]
            out.append(dict(speaker=spk, attack=att.attack_id, source=take(spk), params=params))
    return out




def _single_threaded_pool(workers: int) -> ProcessPoolExecutor:
    """A spawn pool whose workers start with one BLAS/OpenMP thread each (no oversubscription).

    spawn is safe even when the caller already runs threads (torch, BLAS); the variables
    must be in the environment before a worker imports numpy, so they are set around
    the pool's start and restored afterwards.
    """
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})
    try:
        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
        for fut in [pool.submit(int, 0) for _ in range(workers)]:  # start workers now
            fut.result()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return pool


def _run_job(args):
    job, path = args
    return make_clip(job, path)


def build(out_dir: str | Path, seed: int = 2026, n_bonafide: int = 40, n_spoof: int = 40,
          workers: int = 2, sounds_dir: str | Path = DEFAULT_SOUNDS_DIR, overwrite: bool = True) -> dict:
    """Build the corpus under ``out_dir``; return counts per split and attack.

    ``out_dir`` must be empty, absent, or an earlier demo corpus (then it is replaced
    when ``overwrite``).
    """
    t0 = time.perf_counter()
    check_requirements(sounds_dir)
    out = Path(out_dir)
    _prepare_out(out, overwrite)
    _write_attacks(out)  # first: marks the folder as ours, so a failed build can be rebuilt in place
    jobs = plan(seed, n_bonafide, n_spoof, sounds_dir)
    la = out / "LA"
    for split in SPLITS:
        (la / f"ASVspoof2019_LA_{split}" / "flac").mkdir(parents=True, exist_ok=True)
    (la / "ASVspoof2019_LA_cm_protocols").mkdir(parents=True, exist_ok=True)
    tasks = [(j, str(la / f"ASVspoof2019_LA_{j.split}" / "flac" / f"{j.name}.flac")) for j in jobs]
    if workers <= 1:
        results = [_run_job(t) for t in tasks]
    else:
        with _single_threaded_pool(workers) as pool:
            results = list(pool.map(_run_job, tasks, chunksize=4))
    skipped = {name: reason for name, _, reason in results if reason}
    kept = [j for j in jobs if j.name not in skipped]
    samples = {name: n for name, n, _ in results}
    _write_protocols(la, kept)
    counts = _counts(kept)
    seconds = {}
    for j in kept:
        seconds.setdefault(j.attack if j.attack != "-" else "bonafide", []).append(samples[j.name] / SAMPLE_RATE)
    mean_seconds = {k: round(sum(v) / len(v), 2) for k, v in sorted(seconds.items())}
    summary = {"seed": seed, "n_bonafide": n_bonafide, "n_spoof": n_spoof, "counts": counts,
               "mean_seconds": mean_seconds,
               "total": len(kept), "hours": round(sum(samples.values()) / SAMPLE_RATE / 3600, 4),
               "skipped": [{"name": n, "reason": r} for n, r in sorted(skipped.items())],
               "seconds": round(time.perf_counter() - t0, 2), "workers": workers}
    _write_readme(out, summary, kept)
    return summary


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise FileExistsError(f"{out} is not empty and is not a demo corpus (no {MARKER}); "
                                  "choose an empty or new directory")
        if not overwrite:
            raise FileExistsError(f"{out} already holds a demo corpus (overwrite=False)")
        shutil.rmtree(out / "LA", ignore_errors=True)
        for f in ("README.md", MARKER):
            (out / f).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _write_protocols(la: Path, jobs: list[Job]) -> None:
    for split in SPLITS:
        lines = []
        for j in sorted((j for j in jobs if j.split == split), key=lambda j: j.name):
            key = "bonafide" if j.attack == "-" else "spoof"
            lines.append(f"{j.speaker} {j.name} - {j.attack} {key}\n")
        path = la / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{PROTOCOL[split]}.txt"
        path.write_text("".join(lines), encoding="utf-8")


def _counts(jobs: list[Job]) -> dict:
    counts = {s: {} for s in SPLITS}
    for j in jobs:
        key = "bonafide" if j.attack == "-" else j.attack
        counts[j.split][key] = counts[j.split].get(key, 0) + 1
    return {s: dict(sorted(c.items())) for s, c in counts.items()}


def _write_attacks(out: Path) -> None:
    rows = ["attack_id\tgenerator\tfamily\tsplits\tdescription\n"]
    rows += [f"{a.attack_id}\t{a.kind}\t{a.family}\t{','.join(a.splits)}\t{a.description}\n" for a in ATTACKS]
    (out / MARKER).write_text("".join(rows), encoding="utf-8")


def _write_readme(out: Path, summary: dict, jobs: list[Job]) -> None:
    from scaa.demo_corpus.readme import render
    (out / "README.md").write_text(render(summary, jobs), encoding="utf-8")
