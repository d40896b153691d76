"""Vocoded training spoofs: copy-synthesis of bona fide *train* clips.

After Wang & Yamagishi (ICASSP 2023), so a detector learns vocoder artefacts rather than
one corpus's attacks.

A resynthesizer is a registered callable ``gen(wave, rng) -> wave`` on 16 kHz float32
audio (``@RESYNTH.register("name")``, built from ``{type: name, ...}`` like any component).
Each has a ``family`` (default: its registered type) used to flag a study whose
generated spoofs share a family with an eval split's attacks, and ``keywords`` that find
that family in a corpus's attack descriptions (``attacks.tsv``). Its output is brought
back to the source's length and RMS, so neither duration nor level marks a generated row.

Generated rows (:func:`generated_rows`) exist for bona fide train clips only: utt_id
``<source>~<generator>``, label spoof, attack = the generator's name. Each generator runs
once per dataset (:func:`generate_shard`, seeded per clip from (config seed, utt_id,
generator name), 16-bit FLAC under results/resynth_audio/); every encoder then reads
those files (:func:`extract_run`), so adding an encoder never re-runs a vocoder.
"""
from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from scaa.audio import SAMPLE_RATE
from scaa.manifest import BONAFIDE, SPOOF
from scaa.registry import RESYNTH
SEP = "~"  # generated utt_id = source utt_id + SEP + generator name


class ResynthError(RuntimeError):
    """A generator could not process a clip (recorded as a skip, never fatal for the shard)."""


def _fit(out: np.ndarray, sr: int, src: np.ndarray) -> np.ndarray:
    """Back to 16 kHz, the source's length (trim/zero-pad) and RMS, float32, finite."""
    from scaa.demo_corpus.generators import resample

    y = resample(np.asarray(out, dtype=np.float64), sr, SAMPLE_RATE)[: src.size]
    y = np.pad(y, (0, src.size - y.size))
    if not np.isfinite(y).all():
        raise ResynthError("non-finite output")
    rms_src, rms_out = float(np.sqrt(np.mean(src.astype(np.float64) ** 2))), float(np.sqrt(np.mean(y ** 2)))
    if rms_out > 0:
        y *= rms_src / rms_out
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.999:
        y *= 0.999 / peak
    return y.astype(np.float32)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


class Resynthesizer:
    """Base: ``family`` and ``keywords`` describe what it makes; subclasses define ``make``."""

    family: str = ""
    keywords: tuple[str, ...] = ()

    def make(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        src = np.asarray(wave, dtype=np.float32)
        out, sr = self.make(src.astype(np.float64), rng)
        return _fit(out, sr, src)


@RESYNTH.register("world")
class World(Resynthesizer):
    """WORLD analysis (DIO + StoneMask, CheapTrick, D4C) and resynthesis."""

    family, keywords = "world", ("world",)

    def __init__(self, f0_scale: float = 1.0):
        self.f0_scale = float(f0_scale)

    def make(self, x, rng):
        from scaa.demo_corpus.generators import world_wave

        return world_wave(x, SAMPLE_RATE, self.f0_scale)


@RESYNTH.register("lpc")
class LPC(Resynthesizer):
    """LPC vocoder: all-pole envelope per 10 ms frame, pulse-train or noise excitation."""

    family, keywords = "lpc", ("lpc",)

    def __init__(self, order: int = 16):
        if not 4 <= int(order) <= 40:
            raise ValueError("lpc order must be in 4..40")
        self.order = int(order)

    def make(self, x, rng):
        from scaa.demo_corpus.generators import lpc_wave

        return lpc_wave(x, SAMPLE_RATE, self.order, _seed(rng))


@RESYNTH.register("griffin_lim")
class GriffinLim(Resynthesizer):
    """Mel power spectrogram inverted by fast Griffin-Lim from seeded random phase."""

    family, keywords = "griffin_lim", ("griffin-lim", "griffin lim", "griffinlim")

    def __init__(self, n_mels: int = 64, n_iter: int = 32):
        if int(n_mels) < 8 or int(n_iter) < 1:
            raise ValueError("griffin_lim needs n_mels >= 8 and n_iter >= 1")
        self.n_mels, self.n_iter = int(n_mels), int(n_iter)

    def make(self, x, rng):
        from scaa.demo_corpus.generators import griffin_lim_wave

        return griffin_lim_wave(x, SAMPLE_RATE, self.n_mels, self.n_iter, _seed(rng))


@RESYNTH.register("codec2")
class Codec2(Resynthesizer):
    """Codec 2 encode/decode (c2enc/c2dec, 8 kHz) at one bit-rate mode."""

    family, keywords = "codec2", ("codec 2", "codec2")
    MODES = ("3200", "2400", "1600", "1400", "1300", "1200", "700C", "450")

    def __init__(self, mode: str | int = "1300"):
        import shutil

        if str(mode) not in self.MODES:
            raise ValueError(f"codec2 mode must be one of {self.MODES}, not {mode!r}")
        if not (shutil.which("c2enc") and shutil.which("c2dec")):
            raise ResynthError("codec2 needs the c2enc/c2dec programs (Debian package codec2)")
        self.mode = str(mode)

    def make(self, x, rng):
        from scaa.demo_corpus.generators import codec2_wave

        with tempfile.TemporaryDirectory(prefix="scaa_c2_") as tmp:
            return codec2_wave(x, SAMPLE_RATE, self.mode, Path(tmp))


def av_roundtrip(x: np.ndarray, sr: int, codec: str, container: str, bit_rate: int) -> np.ndarray:
    """Encode mono audio with PyAV (in memory) and decode it again; float64 at ``sr``."""
    import av

    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)[None, :]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=sr, layout="mono")
        stream.bit_rate = int(bit_rate)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks = []
    with av.open(buf, "r") as inp:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        for frame in inp.decode(audio=0):
            for f in resampler.resample(frame):
                chunks.append(f.to_ndarray().reshape(-1))
        for f in resampler.resample(None):
            chunks.append(f.to_ndarray().reshape(-1))
    y = np.concatenate(chunks).astype(np.float64) if chunks else np.zeros(0)
    return _align(y, x)


def _align(decoded: np.ndarray, ref: np.ndarray, max_lag: int = 4096) -> np.ndarray:
    """Drop the encoder delay (found by cross-correlation with the input)."""
    from scipy.signal import correlate

    head = ref[: min(ref.size, SAMPLE_RATE)]
    seg = decoded[: head.size + max_lag]
    if not np.any(head) or seg.size < head.size:
        return decoded
    corr = correlate(seg, head, mode="valid", method="fft")
    return decoded[int(np.argmax(corr)):]


@RESYNTH.register("mp3")
class MP3(Resynthesizer):
    """MP3 round trip at a low constant bit rate (PyAV / libmp3lame, in memory)."""

    family, keywords = "mp3", ("mp3",)

    def __init__(self, bit_rate: int = 16000):
        if not 8000 <= int(bit_rate) <= 160000:
            raise ValueError("mp3 bit_rate must be 8000..160000 bit/s at 16 kHz")
        self.bit_rate = int(bit_rate)

    def make(self, x, rng):
        return av_roundtrip(x, SAMPLE_RATE, "libmp3lame", "mp3", self.bit_rate), SAMPLE_RATE


@RESYNTH.register("opus")
class Opus(Resynthesizer):
    """Opus round trip at a low bit rate (PyAV / libopus in Ogg, in memory)."""

    family, keywords = "opus", ("opus",)

    def __init__(self, bit_rate: int = 8000):
        if not 6000 <= int(bit_rate) <= 128000:
            raise ValueError("opus bit_rate must be 6000..128000 bit/s")
        self.bit_rate = int(bit_rate)

    def make(self, x, rng):
        return av_roundtrip(x, SAMPLE_RATE, "libopus", "ogg", self.bit_rate), SAMPLE_RATE


# ---------------------------------------------------------------- config helpers
def set_names(config: dict, resynth_set: str) -> list[str]:
    """Generator names of a resynthesis set (``resynth_sets``, or one generator by name)."""
    if resynth_set == "none":
        return []
    sets = config.get("resynth_sets") or {}
    if resynth_set in sets:
        return list(sets[resynth_set])
    if resynth_set in (config.get("resynthesizers") or {}):
        return [resynth_set]
    raise KeyError(f"resynthesis set {resynth_set!r} is neither in resynth_sets nor in resynthesizers")


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

    from scaa import audio, extract
    from scaa.manifest import REJECT_COLUMNS, read
    from scaa.views import clip_rng

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
    from scaa import extract
    from scaa.views import Identity

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
