"""AASIST / AASIST-L at 1 thread: the authors' implementation against ours, and how close the scores are.

For each variant (AASIST, AASIST-L) with the authors' ASVspoof 2019 LA weights, five
implementations score one 4 s clip (64,600 samples: a real scaa-dev eval clip tiled or
cropped as the authors evaluate, or a seeded synthetic clip when the corpus is absent), batch 1:

- ``theirs``: the authors' ``models/AASIST.py`` (clovaai/aasist, MIT), float32;
- ``ours fast fp32``: :meth:`AASISTNet.fast_forward` (what the ``aasist`` encoder runs);
- ``ours reference``: :meth:`AASISTNet.forward` (the training / ONNX-export path);
- ``ours fast bf16``: what the encoder's ``dtype: bfloat16`` runs: the fast path's front end and
  residual encoder under ``torch.autocast('cpu', dtype=torch.bfloat16)``, the graph-attention
  part and the output layer in float32;
- ``ours fast int8``: ``fast_forward`` after ``torch.ao.quantization.quantize_dynamic`` of the
  ``nn.Linear`` layers, which are all in the graph-attention part (the convolutions, where
  the time goes, stay float32).

The implementations are interleaved: ``--rounds`` rounds, each calling every implementation
``--calls`` times in a row (the order rotates per round); warm-up calls are not timed.
Reported: median and p95 per call, and the speed-up theirs / ours (median over median).

Score agreement: the bona fide logit (``output[:, 1]``) of every implementation on a fixed
seeded sample of ``--n-parity`` scaa-dev eval clips, as max |difference| against the
authors' implementation run here, and against the authors' reference score files in the
weights directory (made with their code on another machine).

The authors' code is not part of SCAA: give a clone of https://github.com/clovaai/aasist
(``git clone https://github.com/clovaai/aasist``), or a bare mirror of it, as
``--reference-repo DIR``; ``models/AASIST.py`` is read from it at run time (``git show
HEAD:models/AASIST.py`` for a bare repository) into a temporary directory.

Run: python bench/bench_aasist.py --reference-repo DIR [--weights-dir DIR] [--reference-scores DIR] [--corpus DIR]
     [--rounds 7] [--calls 4] [--n-parity 40] [--out bench/results/aasist_speed.json]
     [--md bench/results/aasist_speed.md]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # before torch (and numpy's BLAS) is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import copy  # noqa: E402
import datetime  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from machine import cpu_model  # noqa: E402
from scaa import weights as pinned  # noqa: E402
from scaa.encoders.aasist import build_net  # noqa: E402
from scaa.encoders.aasist_net import SAMPLES, VARIANTS, tile_clip  # noqa: E402
from scaa.workflow.synthetic import synthetic_clip  # noqa: E402
from scaa.threads import limit_threads  # noqa: E402

SHARED = ROOT.parent / "shared"
DEFAULT_WEIGHTS = SHARED / "weights" / "aasist"
DEFAULT_CORPUS = SHARED / "corpora" / "scaa-dev"
STEMS = {"aasist": "AASIST", "aasist_l": "AASIST-L"}
TARGET_SPEEDUP = 3.0
CLONE = "git clone https://github.com/clovaai/aasist"
RUSAGE = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
SLOW = "ours reference fp32"  # scored on the first --n-parity-reference clips only (it costs what theirs does)


def load_their_module(repo: Path, tmp: Path):
    """The authors' models/AASIST.py, imported from a temporary copy (a checkout or a bare repo)."""
    repo = Path(repo)
    src = repo / "models" / "AASIST.py"
    if src.is_file():
        text = src.read_text()
        rev = _git(["-C", str(repo), "rev-parse", "HEAD"]) if (repo / ".git").exists() else "checkout"
    else:
        try:
            text = _git(["--git-dir", str(repo), "show", "HEAD:models/AASIST.py"])
            rev = _git(["--git-dir", str(repo), "rev-parse", "HEAD"])
        except (subprocess.CalledProcessError, FileNotFoundError) as err:
            raise SystemExit(f"--reference-repo {repo}: no models/AASIST.py there ({err}); get it with `{CLONE}`")
    path = tmp / "their_aasist.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("their_aasist", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, rev.strip()[:12]


def _git(args) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def their_model(module, path: str, variant: str):
    """The authors' Model with their model_config (AASIST.conf / AASIST-L.conf, as in VARIANTS)."""
    model = module.Model(copy.deepcopy(VARIANTS[variant]))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def implementations(variant: str, weights_dir: str | None, module) -> dict:
    """name -> callable(wave [B, 64600] float32) -> bona fide logit [B]."""
    path = str(pinned.resolve(variant, weights_dir, download=False))  # SHA-256 checked
    theirs = their_model(module, path, variant)
    ours = build_net(variant, path)
    int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(ours), {torch.nn.Linear}, dtype=torch.qint8)

    def bf16(x):  # as the encoder's dtype: bfloat16 runs it
        with torch.autocast("cpu", dtype=torch.bfloat16):
            maps = ours.maps_at(x, 1).float()
        return ours.out_layer(ours.graph(maps))[:, 1]

    return {"theirs fp32": lambda x: theirs(x)[1][:, 1],
            "ours fast fp32": lambda x: ours.fast_forward(x)[1][:, 1],
            "ours reference fp32": lambda x: ours(x)[1][:, 1],
            "ours fast bf16": bf16,
            "ours fast int8 (Linear)": lambda x: int8.fast_forward(x)[1][:, 1]}


def eval_sample(corpus: Path, n: int, seed: int = 0) -> list[tuple[str, Path]]:
    proto = corpus / "LA" / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.eval.trl.txt"
    if not proto.is_file():
        return []
    utts = sorted(line.split()[1] for line in proto.read_text().splitlines() if line.strip())
    pick = sorted(np.random.default_rng(seed).choice(len(utts), size=min(n, len(utts)), replace=False))
    flac = corpus / "LA" / "ASVspoof2019_LA_eval" / "flac"
    return [(utts[i], flac / f"{utts[i]}.flac") for i in pick]


def read_clip(path: Path) -> np.ndarray:
    import soundfile as sf

    wave, _ = sf.read(path, dtype="float64")  # as the authors read it
    return tile_clip(wave)


def reference_scores(directory: Path, variant: str) -> dict[str, float]:
    path = directory / f"reference_scores_{STEMS[variant]}_scaa-dev_eval.txt"
    if not path.is_file():
        return {}
    return {p[0]: float(p[3]) for p in (line.split() for line in path.read_text().splitlines()) if len(p) == 4}


def time_rounds(impls: dict, clip: torch.Tensor, rounds: int, calls: int, warmup: int) -> dict:
    """Per implementation: median and p95 wall time per call, and the share of it spent in the
    kernel (page faults of fresh allocations, mostly: the thread's system CPU time)."""
    names = list(impls)
    ms = {n: [] for n in names}
    sys_s = {n: 0.0 for n in names}
    with torch.inference_mode():
        for n in names:
            for _ in range(warmup):
                impls[n](clip)
        for r in range(rounds):
            for n in names[r % len(names):] + names[:r % len(names)]:
                for _ in range(calls):
                    s0 = resource.getrusage(RUSAGE).ru_stime
                    t = time.perf_counter()
                    impls[n](clip)
                    ms[n].append((time.perf_counter() - t) * 1000)
                    sys_s[n] += resource.getrusage(RUSAGE).ru_stime - s0
    return {n: {"median_ms": float(np.median(v)), "p95_ms": float(np.percentile(v, 95)), "n": len(v),
                "sys_share": sys_s[n] * 1000 / sum(v)}
            for n, v in ms.items()}


def parity(impls: dict, clips: list[tuple[str, np.ndarray]], ref: dict, n_slow: int, batch: int = 8) -> dict:
    """Max |bona fide logit difference| of each implementation against theirs and against the
    reference score file, over ``clips`` (``SLOW``: over the first ``n_slow`` of them)."""
    scores = {n: [] for n in impls}
    with torch.inference_mode():
        for s in range(0, len(clips), batch):
            x = torch.from_numpy(np.stack([c for _, c in clips[s:s + batch]]))
            for n, f in impls.items():
                if n != SLOW or s < n_slow:
                    scores[n].append(f(x[:max(0, n_slow - s)] if n == SLOW else x).double().numpy())
    scores = {n: np.concatenate(v) for n, v in scores.items() if v}
    theirs = scores["theirs fp32"]
    file_ref = np.array([ref.get(u, np.nan) for u, _ in clips])
    out = {}
    for n, v in scores.items():
        have = ~np.isnan(file_ref[:len(v)])
        out[n] = {"vs_theirs": float(np.abs(v - theirs[:len(v)]).max()), "clips": len(v),
                  "vs_file": float(np.abs(v[have] - file_ref[:len(v)][have]).max()) if have.any() else None,
                  "n_file": int(have.sum())}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference-repo", default=os.environ.get("AASIST_REPO"),
                    help=f"a clone of clovaai/aasist (`{CLONE}`) or a bare mirror; default $AASIST_REPO")
    ap.add_argument("--weights-dir", default=str(DEFAULT_WEIGHTS) if DEFAULT_WEIGHTS.is_dir() else None,
                    help="holding AASIST.pth and AASIST-L.pth (checked against their pinned SHA-256); default "
                         f"{DEFAULT_WEIGHTS} if it exists, else the weights cache (`scaa weights path`)")
    ap.add_argument("--reference-scores", default=str(DEFAULT_WEIGHTS),
                    help="directory of the authors' reference_scores_*_scaa-dev_eval.txt (the column is left "
                         "empty without them)")
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="scaa-dev (a synthetic clip is timed without it)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=4, help="timed calls per implementation per round")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--n-parity", type=int, default=40, help="scaa-dev eval clips for the score comparison")
    ap.add_argument("--n-parity-reference", type=int, default=8,
                    help="of those, how many our (slow) reference forward scores too")
    ap.add_argument("--out", help="results as JSON")
    ap.add_argument("--md", help="the table and the conditions as Markdown")
    args = ap.parse_args()
    if not args.reference_repo:
        ap.error(f"--reference-repo DIR is needed (the authors' implementation: `{CLONE}`)")
    warnings.simplefilter("ignore")
    limit_threads(1)
    torch.set_num_threads(1)
    corpus = Path(args.corpus)
    sample = eval_sample(corpus, args.n_parity)
    if sample:
        clip_name = sample[0][0]
        clip = read_clip(sample[0][1])
    else:
        clip_name, clip = "synthetic (seed 0)", tile_clip(synthetic_clip(SAMPLES / 16000, 0))
    x = torch.from_numpy(clip)[None]
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        module, rev = load_their_module(Path(args.reference_repo), Path(tmp))
        parity_clips = [(u, read_clip(p)) for u, p in sample]
        for variant in args.variants:
            impls = implementations(variant, args.weights_dir, module)
            timing = time_rounds(impls, x, args.rounds, args.calls, args.warmup)
            agree = (parity(impls, parity_clips, reference_scores(Path(args.reference_scores), variant),
                            args.n_parity_reference)
                     if parity_clips else {})
            results[variant] = {"timing": timing, "parity": agree}
    elapsed = time.perf_counter() - t_start
    conditions = {"cpu": cpu_model(), "cpus": os.cpu_count(), "torch": torch.__version__,
                  "threads": torch.get_num_threads(), "niceness": os.nice(0),
                  "load_avg_before": [round(v, 2) for v in load_before],
                  "load_avg_after": [round(v, 2) for v in os.getloadavg()],
                  "date": datetime.date.today().isoformat(), "reference_rev": rev, "seconds": round(elapsed, 1),
                  "clip": clip_name, "parity_clips": len(parity_clips)}
    lines = render(results, conditions, args)
    print("\n".join(lines))
    if args.md:
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text("\n".join(lines) + "\n")
    if args.out:
        Path(args.out).write_text(json.dumps({"results": results, "conditions": conditions}, indent=1))
    return 0


def render(results: dict, c: dict, args) -> list[str]:
    n = c["parity_clips"]
    lines = ["| variant | implementation | median ms | p95 ms | in kernel | speed-up vs theirs | "
             "max abs score diff vs theirs | vs the reference score file |",
             "|---|---|---|---|---|---|---|---|"]
    below = []
    fmt = lambda v: "–" if v is None else f"{v:.1e}"  # noqa: E731
    for variant, r in results.items():
        theirs = r["timing"]["theirs fp32"]["median_ms"]
        for name, t in r["timing"].items():
            p = r["parity"].get(name, {})
            speedup = theirs / t["median_ms"]
            subset = f" ({p['clips']} clips)" if p and p["clips"] != n else ""
            lines.append(f"| {variant} | {name} | {t['median_ms']:.1f} | {t['p95_ms']:.1f} | {t['sys_share']:.0%} | "
                         f"{'–' if name == 'theirs fp32' else f'{speedup:.2f}x'} | "
                         f"{'–' if name == 'theirs fp32' else fmt(p.get('vs_theirs')) + subset} | "
                         f"{fmt(p.get('vs_file'))}{subset} |")
            if name == "ours fast fp32" and speedup < TARGET_SPEEDUP:
                below.append(f"{variant} {speedup:.2f}x")
    lines.append("")
    lines.append(f"Time per call on one {SAMPLES}-sample clip (batch 1; {c['clip']}), 1 thread: {args.rounds} rounds, "
                 f"each calling every implementation {args.calls} times in a row, the order rotating per round "
                 f"({args.rounds * args.calls} timed calls each; {args.warmup} warm-up calls each not timed). "
                 "Speed-up = theirs' median / this median. In kernel = the share of the wall time the thread spent "
                 "in system CPU time (page faults of fresh allocations, mostly).")
    lines.append(f"Score = the bona fide logit (output[:, 1]); max |difference| over {n} scaa-dev eval clips drawn "
                 "with seed 0 (read as float64, first 64,600 samples, shorter clips tiled; batches of 8), against the "
                 "authors' implementation run here and against the authors' reference score files "
                 "(`reference_scores_*_scaa-dev_eval.txt`).")
    lines.append("bf16 = as the encoder's `dtype: bfloat16`: `torch.autocast('cpu', dtype=torch.bfloat16)` around "
                 "the fast path's front end and residual encoder, the graph-attention part in float32. int8 = "
                 "`torch.ao.quantization.quantize_dynamic` of the nn.Linear layers, which are all in the "
                 "graph-attention part: the convolutions, where the time goes, stay float32, so it saves little "
                 "time, and the quantised attention moves the scores by the amount shown.")
    if below:
        lines.append(f"**Below the {TARGET_SPEEDUP:.0f}x float32 target** (ours fast fp32 against theirs): "
                     + ", ".join(below) + ".")
    else:
        lines.append(f"Ours fast fp32 is at least {TARGET_SPEEDUP:.0f}x faster than theirs for every variant.")
    busy = max(c["load_avg_before"][0], c["load_avg_after"][0]) > 1 + 0.5 * ((c["cpus"] or 1) - 1)
    lines.append(f"\nCPU: {c['cpu']} ({c['cpus']} CPUs), torch {c['torch']}, {c['threads']} thread, niceness "
                 f"{c['niceness']}, load average {' '.join(map(str, c['load_avg_before']))} before and "
                 f"{' '.join(map(str, c['load_avg_after']))} after"
                 + (" (a loaded machine: absolute numbers inflated, p95s noisy)" if busy else "")
                 + f"; {c['date']}; {c['seconds']:.0f} s in all.")
    lines.append(f"Authors' implementation: clovaai/aasist models/AASIST.py at {c['reference_rev']} (MIT; not part of "
                 f"SCAA, read at run time from --reference-repo; get it with `{CLONE}`).")
    command = "python " + " ".join(["bench/bench_aasist.py", *sys.argv[1:]])
    lines.append(f"\nCommand: `{command}`")
    return lines


if __name__ == "__main__":
    sys.exit(main())
