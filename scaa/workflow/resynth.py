"""Vocoded training spoofs: copy-synthesis of bona fide *train* clips.

After Wang & Yamagishi (ICASSP 2023), so a detector learns vocoder artefacts rather than
one corpus's attacks.

The generators themselves (WORLD, LPC, Griffin-Lim, Codec 2, MP3, Opus) are
:mod:`scaa.dsp.vocoders`; this module is the workflow stage that runs them. Each generator
has a ``family`` used to flag a study whose generated spoofs share a family with an eval
split's attacks (:func:`overlaps`).

Generated rows (:func:`generated_rows`) exist for bona fide train clips only: utt_id
``<source>~<generator>``, label spoof, attack = the generator's name. Each generator runs
once per dataset (:func:`generate_shard`, seeded per clip from (config seed, utt_id,
generator name), 16-bit FLAC under results/resynth_audio/); every encoder then reads
those files (:func:`extract_run`), so adding an encoder never re-runs a vocoder.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from scaa.dsp.audio import SAMPLE_RATE
from scaa.plan.grid import resynth_set_names as set_names  # noqa: F401 (re-exported: rules/common.smk reads it here)
from scaa.manifest import BONAFIDE, SPOOF
from scaa.registry import RESYNTH
from scaa.dsp.vocoders import Resynthesizer, ResynthError  # noqa: F401 (re-exported: a generator's failure)

SEP = "~"  # generated utt_id = source utt_id + SEP + generator name


# ---------------------------------------------------------------- config helpers
def family_of(spec: dict) -> str:
    """A generator's family: ``family:`` in its spec, else its class's, else its type."""
    if spec.get("family"):
        return str(spec["family"])
    return getattr(RESYNTH.get(spec["type"]), "family", "") or str(spec["type"])


def build(spec: dict) -> Resynthesizer:
    return RESYNTH.build({k: v for k, v in spec.items() if k != "family"})


# ---------------------------------------------------------------- rows
def generated_rows(manifest: pd.DataFrame, name: str) -> pd.DataFrame:
    """The spoof rows generator ``name`` adds: one per bona fide **train** clip (never dev
    or eval), utt_id ``<source>~<name>``, attack ``name``; path = the source clip."""
    if SEP in name or "/" in name:
        raise ValueError(f"generator name {name!r} may not contain {SEP!r} or '/'")
    src = manifest[(manifest["split"] == "train") & (manifest["label"] == BONAFIDE)]
    out = src.copy()
    out["utt_id"] = src["utt_id"].astype(str) + SEP + name
    out["label"] = SPOOF
    out["attack"] = name
    return out.reset_index(drop=True)


def generate_shard(manifest_path, rows_path, audio_dir, skips_path, name, generator_spec, scatteritem, seed,
                   audio_cfg=None, progress=True) -> dict:
    """Generate one shard of generator ``name``'s spoofs as 16-bit FLAC files (once per
    dataset and generator, whatever the encoders); ``rows_path`` lists them (manifest
    schema, path = the generated file) and ``skips_path`` the clips that failed."""
    import soundfile as sf
    from tqdm import tqdm

    from scaa.dsp import audio
    from scaa.workflow import extract
    from scaa.manifest import REJECT_COLUMNS, read
    from scaa.dsp.views import clip_rng

    audio_cfg = audio_cfg or {}
    shard, n_shards = extract.parse_scatteritem(scatteritem)
    rows = extract.shard_rows(generated_rows(read(manifest_path), name), shard, n_shards)
    generator = build(generator_spec)
    audio_dir = Path(audio_dir)
    audio_dir.mkdir(parents=True, exist_ok=True)
    kept, skips = [], []
    for _, row in tqdm(rows.iterrows(), total=len(rows), disable=not progress, mininterval=2.0, desc=name):
        try:
            wave = audio.load(row["path"], trim_db=audio_cfg.get("trim_db"), max_seconds=audio_cfg.get("max_seconds"))
            out = generator(wave, clip_rng(seed, row["utt_id"], f"resynth:{name}"))
        except audio.AudioError as err:
            skips.append({"utt_id": row["utt_id"], "path": row["path"], "split": row["split"],
                          "reason": err.reason + (f": {err.detail}" if err.detail else "")})
            continue
        except Exception as err:  # noqa: BLE001 - a generator failure is this clip's skip
            skips.append({"utt_id": row["utt_id"], "path": row["path"], "split": row["split"],
                          "reason": f"resynth_error: {name}: {err}"})
            continue
        path = audio_dir / f"{row['utt_id'].replace(SEP, '__')}.flac"
        sf.write(str(path), out, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        kept.append({**row.to_dict(), "path": str(path), "duration_s": out.size / SAMPLE_RATE})
    pd.DataFrame(kept, columns=list(rows.columns)).to_parquet(rows_path, index=False)
    pd.DataFrame(skips, columns=list(REJECT_COLUMNS)).to_csv(skips_path, index=False)
    return {"clips": len(rows), "generated": len(kept), "skipped": len(skips)}


def extract_run(rows_paths, out_path, skips_path, encoder_spec, freeze, scatteritem, audio_cfg=None,
                threads=1, progress=True) -> dict:
    """One feature shard of generated spoofs (the files :func:`generate_shard` wrote)."""
    from scaa.workflow import extract
    from scaa.dsp.views import Identity

    audio_cfg = audio_cfg or {}
    shard, n_shards = extract.parse_scatteritem(scatteritem)
    rows = pd.concat([pd.read_parquet(p) for p in rows_paths], ignore_index=True)
    rows = extract.shard_rows(rows, shard, n_shards)
    encoder = extract.build_encoder(encoder_spec, freeze)
    encoder.set_threads(threads)
    return extract.extract_shard(rows, encoder, "none", Identity(), 0, out_path, skips_path,
                                 trim_db=audio_cfg.get("trim_db"), max_seconds=audio_cfg.get("max_seconds"),
                                 progress=progress)


# ---------------------------------------------------------------- overlap with eval attacks
def attack_families(root: str | Path | None, generator_keywords: dict[str, tuple[str, ...]],
                    declared: dict | None = None) -> dict[str, set[str]]:
    """attack id -> families, from the config's ``attack_families`` for the dataset and,
    where the corpus has one, its ``attacks.tsv`` (columns id, generator, ...) matched
    against each family's keywords."""
    out: dict[str, set[str]] = {}
    for attack, fams in (declared or {}).items():
        out.setdefault(str(attack), set()).update([fams] if isinstance(fams, str) else fams)
    tsv = Path(root) / "attacks.tsv" if root else None
    if tsv is not None and tsv.is_file():
        with open(tsv, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                text = " ".join(str(v) for k, v in row.items() if k != "id").lower()
                for fam, words in generator_keywords.items():
                    if any(w in text for w in words):
                        out.setdefault(str(row.get("id")), set()).add(fam)
    return out


def overlaps(config: dict, used_sets: list[str], eval_attacks: dict[str, list[str]]) -> list[dict]:
    """Eval attacks whose family is one the study generates for training: each such row
    makes "unseen attacks" partly seen. ``eval_attacks``: eval dataset -> attack ids of its
    eval split (from the manifest)."""
    gens = {n: (config.get("resynthesizers") or {})[n] for s in used_sets for n in set_names(config, s)}
    if not gens:
        return []
    fam_of = {n: family_of(spec) for n, spec in gens.items()}
    keywords: dict[str, tuple[str, ...]] = {}
    for n, spec in gens.items():
        words = tuple(spec.get("keywords") or getattr(RESYNTH.get(spec["type"]), "keywords", ()) or (fam_of[n],))
        keywords[fam_of[n]] = tuple(sorted(set(keywords.get(fam_of[n], ())) | {w.lower() for w in words}))
    rows = []
    declared_all = config.get("attack_families") or {}
    for ds, attacks in eval_attacks.items():
        root = (config.get("datasets") or {}).get(ds, {}).get("root")
        fams = attack_families(root, keywords, declared_all.get(ds))
        for attack in sorted(set(attacks)):
            for fam in sorted(fams.get(attack, set()) & set(fam_of.values())):
                users = sorted(n for n, f in fam_of.items() if f == fam)
                sets = sorted(s for s in used_sets if set(set_names(config, s)) & set(users))
                rows.append({"eval_dataset": ds, "attack": attack, "family": fam,
                             "generators": ",".join(users), "resynth_sets": ",".join(sets)})
    return rows
