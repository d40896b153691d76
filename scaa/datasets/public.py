"""Adapters for five public deepfake corpora: WaveFake, MLAAD, FakeOrReal, ASVspoof 5, LibriSeVoc."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from scaa.dsp.audio import AUDIO_SUFFIXES
from scaa.datasets.base import DatasetAdapter, Entry, assign_splits, id_problem, parse_label
from scaa.manifest import BONAFIDE, SPOOF
from scaa.registry import DATASETS


def _audio_in(folder: Path, recursive: bool = False) -> list[Path]:
    """The audio files in ``folder`` (not below it unless ``recursive``), sorted by name."""
    found = folder.rglob("*") if recursive else folder.glob("*")
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)


def _first_dir(*candidates: Path) -> Path | None:
    return next((c for c in candidates if c is not None and c.is_dir()), None)


def _keep(name: str, wanted) -> bool:
    return wanted is None or name in set(wanted)


def _check_wanted(kind: str, wanted, found: list[str], where: Path) -> None:
    """A name filter that names a folder that is not there is a typo: say so, not an empty manifest."""
    missing = sorted(set(wanted or ()) - set(found))
    if missing:
        raise FileNotFoundError(f"{kind} {missing} not found under {where} (there: {sorted(found)})")


# --------------------------------------------------------------------------- WaveFake
_LJ_META, _JSUT_META = "metadata.csv", "transcript_utf8.txt"


@DATASETS.register("wavefake")
@dataclass
class WaveFake(DatasetAdapter):
    """WaveFake (Frank & Schönherr, NeurIPS 2021): vocoded LJSpeech/JSUT clips plus their bona fide originals.

    Layout (root = the folder that holds ``generated_audio/``, or ``generated_audio/`` itself)::

        generated_audio/<vocoder>/<utt>_gen.wav     ljspeech_melgan, ljspeech_hifiGAN, ljspeech_waveglow,
                                                    jsut_multi_band_melgan, jsut_parallel_wavegan,
                                                    common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech, ...
        LJSpeech-1.1/metadata.csv + wavs/LJ001-0001.wav            (bona fide; or ljspeech_root:)
        jsut_ver1.1/basic5000/transcript_utf8.txt + wav/BASIC5000_0001.wav   (bona fide; or jsut_root:)

    A vocoder folder is any sub-folder of the generated folder that holds audio files itself
    (so LJSpeech-1.1/ and jsut_ver1.1/ lying beside them are not taken for one); ``vocoders``
    keeps only the named ones. attack = the vocoder folder; speaker = ``jsut`` for folders
    whose name starts with ``jsut``, else ``ljspeech`` (the TTS folder speaks in the LJSpeech
    voice). Bona fide clips come from a corpus only when some kept folder speaks in its voice
    (``paired_only``: only utterances with a kept vocoded copy). Both reference corpora are
    single-speaker, so ``split_fractions`` splits by utterance (a seeded hash of the stem), which
    keeps a real clip and all its vocoded copies in one split; by default every clip is eval.
    The bona fide lists are read from metadata.csv (``ID|text|normalised``) and
    transcript_utf8.txt (``ID:text``) when present, else the wav folders are listed.
    ids: ``<vocoder>/<utt>_gen``, ``ljspeech/<utt>``, ``jsut/<utt>``.
    """
    ljspeech_root: str | None = None
    jsut_root: str | None = None
    generated_dir: str = "generated_audio"
    vocoders: list | None = None
    paired_only: bool = False
    split_fractions: dict | None = None
    seed: int = 0

    def entries(self):
        gen = _first_dir(self.root / self.generated_dir) or self.root
        folders = [d for d in sorted(gen.iterdir()) if d.is_dir() and _audio_in(d)]
        _check_wanted("vocoder folders", self.vocoders, [d.name for d in folders], gen)
        rows = []  # (utt_id, path, label, speaker, attack, utterance, where)
        for d in folders:
            if not _keep(d.name, self.vocoders):
                continue
            speaker = "jsut" if d.name.lower().startswith("jsut") else "ljspeech"
            for path in _audio_in(d):
                utt = path.stem[:-4] if path.stem.endswith("_gen") else path.stem
                rows.append((f"{d.name}/{path.stem}", path, SPOOF, speaker, d.name, utt, str(path)))
        voiced = {r[3] for r in rows}
        paired = {(r[3], r[5]) for r in rows}
        for speaker, listing in (("ljspeech", self._ljspeech), ("jsut", self._jsut)):
            if speaker not in voiced:
                continue
            for utt, path, where in listing():
                if not self.paired_only or (speaker, utt) in paired:
                    rows.append((f"{speaker}/{utt}", path, BONAFIDE, speaker, "-", utt, where))
        splits = assign_splits((f"{r[3]}:{r[5]}" for r in rows), self.split_fractions, self.seed)
        for uid, path, label, speaker, attack, utt, where in rows:
            yield Entry(uid, path, label, splits[f"{speaker}:{utt}"], speaker, attack, where)

    def _ljspeech(self):
        base = Path(self.ljspeech_root).expanduser() if self.ljspeech_root else \
            _first_dir(self.root / "LJSpeech-1.1", self.root / "LJSpeech", self.root.parent / "LJSpeech-1.1")
        if base is None:
            return
        yield from self._listed(base / _LJ_META, base / "wavs", "|")

    def _jsut(self):
        base = Path(self.jsut_root).expanduser() if self.jsut_root else \
            _first_dir(self.root / "jsut_ver1.1", self.root / "jsut", self.root.parent / "jsut_ver1.1")
        if base is None:
            return
        basic = base / "basic5000" if (base / "basic5000").is_dir() else base
        yield from self._listed(basic / _JSUT_META, basic / "wav", ":")

    def _listed(self, meta: Path, wavs: Path, sep: str):
        """(utterance, path, where) of a bona fide corpus: from its transcript file, else its wav folder."""
        if not meta.is_file():
            if not wavs.is_dir():
                raise FileNotFoundError(f"neither {meta} nor {wavs} exists")
            for path in _audio_in(wavs):
                yield path.stem, path, str(path)
            return
        for lineno, line in self.text_lines(meta):
            if not line.strip():
                continue
            where = f"{meta}:{lineno}"
            utt = line.split(sep, 1)[0].strip()
            if sep not in line or not utt:
                self.problem(where, f"expected 'ID{sep}text', got {line.strip()[:60]!r}", code="malformed_line")
                continue
            if self.plain_id(where, utt):
                yield utt, wavs / f"{utt}.wav", where


# --------------------------------------------------------------------------- MLAAD
_MLAAD_NEED = ("path", "original_file", "language")
_TRUE = ("true", "1", "yes")


@DATASETS.register("mlaad")
@dataclass
class MLAAD(DatasetAdapter):
    """MLAAD (Müller et al. 2024): multi-language TTS spoofs, bona fide from M-AILABS (``mailabs_root``).

    Layout (root = the folder that holds ``fake/``, or ``fake/`` itself)::

        fake/<language>/<model>/meta.csv       '|'-separated, header line first:
                                               path|original_file|language|is_original_language|
                                               duration|training_data|model_name|architecture|transcript
        fake/<language>/<model>/<clip>.wav
        <mailabs_root>/<lang_code>/by_book/<gender>/<reader>/<book>/wavs/<clip>.wav   (M-AILABS)

    ``path`` (``./fake/<language>/<model>/<clip>.wav``) is resolved by its file name inside the
    model folder (the language part of that column does not always match the folder name).
    A model folder without meta.csv is listed as it is. attack = the model folder; speaker =
    the model folder for spoofs, the M-AILABS reader (``by_book/<gender>/<reader>``, else
    ``unknown``) for bona fide clips. With ``mailabs_root`` the bona fide clips are the M-AILABS
    originals (``original_file``, relative to mailabs_root) of the kept rows whose
    ``is_original_language`` is true (a language M-AILABS lacks was made from translated English
    texts, whose originals are English clips); each original is listed once. ``languages`` and
    ``models`` keep only the named folders. MLAAD has no official split in this layout:
    ``split_fractions`` splits by speaker (readers for bona fide, whole TTS models for spoofs: the
    other splits see unseen models); by default every clip is eval. Columns are found by name
    in the header, so added columns (later versions) are fine.
    ids: ``<language>/<model>/<clip>`` and ``mailabs/<original_file without suffix>``.
    """
    mailabs_root: str | None = None
    languages: list | None = None
    models: list | None = None
    meta_name: str = "meta.csv"
    split_fractions: dict | None = None
    seed: int = 0

    def entries(self):
        fake = _first_dir(self.root / "fake") or self.root
        langs = [d for d in sorted(fake.iterdir()) if d.is_dir()]
        _check_wanted("languages", self.languages, [d.name for d in langs], fake)
        rows, originals = [], {}
        for lang in langs:
            if not _keep(lang.name, self.languages):
                continue
            for model in sorted(d for d in lang.iterdir() if d.is_dir()):
                if not _keep(model.name, self.models):
                    continue
                meta = model / self.meta_name
                if not meta.is_file():
                    rows += [(f"{lang.name}/{model.name}/{p.stem}", p, model.name, str(p)) for p in _audio_in(model)]
                    continue
                for name, original, where in self._read_meta(meta):
                    rows.append((f"{lang.name}/{model.name}/{Path(name).stem}", model / name, model.name, where))
                    if original:
                        originals.setdefault(original, where)
        if self.models:
            _check_wanted("models", self.models, sorted({r[2] for r in rows}), fake)
        entries = [(uid, path, SPOOF, model, model, where) for uid, path, model, where in rows]
        if self.mailabs_root:
            base = Path(self.mailabs_root).expanduser()
            for original, where in originals.items():
                reader = _mailabs_reader(original)
                entries.append((f"mailabs/{original.rsplit('.', 1)[0]}", base / original, BONAFIDE, reader, "-",
                                where))
        splits = assign_splits((e[3] for e in entries), self.split_fractions, self.seed)
        for uid, path, label, speaker, attack, where in entries:
            yield Entry(uid, path, label, splits[speaker], speaker, attack, where)

    def _read_meta(self, meta: Path):
        """(clip file name, M-AILABS original or '', where) of each usable row of one meta.csv."""
        header = None
        for lineno, line in self.text_lines(meta):
            if not line.strip():
                continue
            where = f"{meta}:{lineno}"
            fields = next(csv.reader([line.rstrip("\r\n")], delimiter="|"))
            if header is None:
                header = [h.strip() for h in fields]
                if not set(_MLAAD_NEED) <= set(header):
                    self.problem(where, f"header must name {list(_MLAAD_NEED)} ('|'-separated), got {header}",
                                 code="bad_header")
                    return
                continue
            if len(fields) < len(header):
                self.problem(where, f"expected {len(header)} '|'-separated fields, got {len(fields)}",
                             code="malformed_line")
                continue
            row = dict(zip(header, fields))
            name = Path(row["path"].strip()).name
            if not self.plain_id(where, Path(name).stem):
                continue
            original = row["original_file"].strip()
            while original.startswith("./"):
                original = original[2:]
            if original and id_problem(original, nested=True) is not None:
                self.problem(where, f"original_file {original!r} is not a path under mailabs_root: "
                                    f"{id_problem(original, nested=True)}", code="bad_utt_id")
                original = ""
            if row.get("is_original_language", "true").strip().lower() not in _TRUE:
                original = ""
            yield name, original, where


def _mailabs_reader(original: str) -> str:
    """The reader of an M-AILABS clip path ``<lang>/by_book/<gender>/<reader>/<book>/wavs/<clip>``;
    ``unknown`` for the ``mix`` folder (several readers) or any other shape."""
    parts = original.split("/")
    i = parts.index("by_book") if "by_book" in parts else -1
    if i >= 0 and len(parts) > i + 3 and parts[i + 1] in ("female", "male"):
        return parts[i + 2]
    return "unknown"


# --------------------------------------------------------------------------- FakeOrReal
_FOR_VERSIONS = {"for-norm": ("for-norm",), "for-2sec": ("for-2sec", "for-2seconds"),
                 "for-rerec": ("for-rerec", "for-rerecorded"), "for-original": ("for-original",)}
_FOR_SPLITS = {"train": "training", "dev": "validation", "eval": "testing"}


@DATASETS.register("fakeorreal")
@dataclass
class FakeOrReal(DatasetAdapter):
    """Fake-or-Real (Reimao & Tzerpos 2019): one of its four versions, real/ and fake/ per split.

    Layout (root = the folder holding the version folders, or a version folder itself)::

        for-norm/[for-norm/]{training,validation,testing}/{real,fake}/*.wav

    ``version``: for-norm, for-2sec (folder ``for-2sec`` or ``for-2seconds``), for-rerec
    (``for-rerec`` or ``for-rerecorded``) or for-original; a doubled top folder
    (``for-norm/for-norm/``, as the archives unpack) is followed. training -> train,
    validation -> dev, testing -> eval; ``splits`` keeps only some. The corpus names neither
    speakers nor TTS systems: speaker is ``unknown``, attack ``fakeorreal``.
    ids: ``<split>/<real|fake>/<file stem>``.
    """
    version: str = "for-norm"
    splits: tuple = ("train", "dev", "eval")

    def __post_init__(self):
        super().__post_init__()
        if self.version not in _FOR_VERSIONS:
            raise ValueError(f"version must be one of {sorted(_FOR_VERSIONS)}, not {self.version!r}")

    def entries(self):
        base = self._version_dir()
        for split in self.splits:
            folder = base / _FOR_SPLITS[split]
            for cls, label in (("real", BONAFIDE), ("fake", SPOOF)):
                d = folder / cls
                if not d.is_dir():
                    raise FileNotFoundError(f"{d} not found (is version={self.version!r} right?)")
                for path in _audio_in(d, recursive=True):
                    yield Entry(f"{split}/{cls}/{path.stem}", path, label, split, "unknown",
                                "-" if label == BONAFIDE else "fakeorreal", str(path))

    def _version_dir(self) -> Path:
        base = self.root
        for _ in range(3):  # root, version folder, the doubled version folder
            if any((base / d).is_dir() for d in _FOR_SPLITS.values()):
                return base
            nxt = _first_dir(*(base / n for n in _FOR_VERSIONS[self.version]))
            if nxt is None:
                break
            base = nxt
        raise FileNotFoundError(f"no {self.version} folder with training/validation/testing under {self.root}")


# --------------------------------------------------------------------------- ASVspoof 5
_ASV5_PROTOCOLS = {"train": "ASVspoof5.train.tsv", "dev": "ASVspoof5.dev.track_1.tsv",
                   "eval": "ASVspoof5.eval.track_1.tsv"}
_ASV5_AUDIO = {"train": ("flac_T",), "dev": ("flac_D",), "eval": ("flac_E_eval", "flac_E")}


@DATASETS.register("asvspoof5")
@dataclass
class ASVspoof5(DatasetAdapter):
    """ASVspoof 5 (track 1): space-separated protocol lines, flac audio per split.

    Layout (as the Zenodo archives unpack)::

        ASVspoof5_protocols/ASVspoof5.train.tsv, ASVspoof5.dev.track_1.tsv, ASVspoof5.eval.track_1.tsv
        flac_T/T_0000000000.flac   flac_D/D_...flac   flac_E_eval/E_...flac

    Protocol line (despite the .tsv name, fields are split at any white space):
    ``SPEAKER_ID FLAC_FILE_NAME SPEAKER_GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY TMP``;
    attack = ATTACK_LABEL (A01..A32; '-' for bona fide), label from KEY (bonafide/spoof).
    The protocol folder may be the root itself; ``protocols`` (split -> file name or path) and
    ``audio_dirs`` (split -> folder under root) override the names; ``splits`` keeps only some.
    ids: FLAC_FILE_NAME.
    """
    splits: tuple = ("train", "dev", "eval")
    protocols: dict | None = None
    audio_dirs: dict | None = None

    def entries(self):
        for split in self.splits:
            name = (self.protocols or {}).get(split, _ASV5_PROTOCOLS[split])
            here = [Path(name)] if Path(name).is_absolute() else [self.root / "ASVspoof5_protocols" / name,
                                                                 self.root / name]
            proto = next((p for p in here if p.is_file()), here[0])
            if not proto.is_file():
                raise FileNotFoundError(f"protocol file {proto} not found (is root={self.root} right?)")
            audio = self.root / self.audio_dirs[split] if self.audio_dirs and split in self.audio_dirs else \
                _first_dir(*(self.root / d for d in _ASV5_AUDIO[split])) or self.root / _ASV5_AUDIO[split][0]
            yield from self._read(proto, audio, split)

    def _read(self, proto: Path, audio: Path, split: str):
        for lineno, line in self.text_lines(proto, split):
            parts = line.split()
            if not parts or (lineno == 1 and parts[0].upper() == "SPEAKER_ID"):
                continue
            where = f"{proto}:{lineno}"
            if len(parts) < 9:
                self.problem(where, f"expected 10 fields 'SPEAKER_ID FLAC_FILE_NAME GENDER CODEC CODEC_Q CODEC_SEED "
                                    f"ATTACK_TAG ATTACK_LABEL KEY TMP', got {len(parts)}: {line.strip()!r}",
                             split=split, code="malformed_line")
                continue
            speaker, name, attack, key = parts[0], parts[1], parts[7], parts[8]
            if not self.plain_id(where, name, split):
                continue
            label = parse_label(key)
            if label is None:
                self.problem(where, f"unknown key {key!r} (expected bonafide/spoof)", utt_id=name, split=split,
                             code="unknown_label")
                continue
            yield Entry(name, audio / f"{name}.flac", label, split, speaker,
                        "-" if label == BONAFIDE else attack, where)


# --------------------------------------------------------------------------- LibriSeVoc
_LIBRITTS_NAME = re.compile(r"^(\d+)_\d+_\d+_\d+(_gen)?$")


@DATASETS.register("librisevoc")
@dataclass
class LibriSeVoc(DatasetAdapter):
    """LibriSeVoc (Sun et al., CVPR 2023 workshops): LibriTTS clips and their copies from six vocoders.

    Layout (root = the corpus folder; a single ``LibriSeVoc/`` level below it is followed)::

        gt/27_123349_000006_000000.wav                       bona fide (LibriTTS)
        <vocoder>/27_123349_000006_000000_gen.wav            diffwave, melgan, parallel_wave_gan,
                                                             wavegrad, wavenet, wavernn

    speaker = the LibriTTS reader id (the name's first field); attack = the vocoder folder.
    ``bonafide_dir`` names the ground-truth folder; every other folder holding audio is a
    vocoder (``vocoders`` keeps only the named ones). A file whose name is not
    ``<reader>_<chapter>_<par>_<sent>[_gen]`` is a problem (code ``bad_name``): its speaker is
    unknown. ``split_fractions`` splits by reader via assign_splits; by default all is eval.
    ids: ``<folder>/<file stem>``.
    """
    bonafide_dir: str = "gt"
    vocoders: list | None = None
    split_fractions: dict | None = None
    seed: int = 0

    def entries(self):
        base = self.root if (self.root / self.bonafide_dir).is_dir() else \
            _first_dir(self.root / "LibriSeVoc") or self.root
        if not (base / self.bonafide_dir).is_dir():
            raise FileNotFoundError(f"no {self.bonafide_dir}/ folder under {self.root}")
        folders = [d for d in sorted(base.iterdir()) if d.is_dir() and _audio_in(d)]
        _check_wanted("vocoder folders", self.vocoders, [d.name for d in folders if d.name != self.bonafide_dir],
                      base)
        rows = []
        for d in folders:
            bona = d.name == self.bonafide_dir
            if not bona and not _keep(d.name, self.vocoders):
                continue
            for path in _audio_in(d):
                m = _LIBRITTS_NAME.match(path.stem)
                if m is None:
                    self.problem(str(path), f"file name {path.name!r} is not a LibriTTS name "
                                            "'<reader>_<chapter>_<par>_<sent>[_gen]'", utt_id=f"{d.name}/{path.stem}",
                                 path=str(path), code="bad_name")
                    continue
                rows.append((f"{d.name}/{path.stem}", path, BONAFIDE if bona else SPOOF, m.group(1),
                             "-" if bona else d.name))
        splits = assign_splits((r[3] for r in rows), self.split_fractions, self.seed)
        for uid, path, label, speaker, attack in rows:
            yield Entry(uid, path, label, splits[speaker], speaker, attack, str(path))
