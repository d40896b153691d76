"""Where the demo corpus comes from: Asterisk prompt recordings (bona fide) and local tools.

Each Asterisk voice directory is one real speaker reading IVR prompts in one language.
Allison Smith recorded both the English and the Spanish set, so those two stay in the
same split: splits are disjoint by *person*, not only by speaker id.
"""
from __future__ import annotations

import hashlib
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

DEFAULT_SOUNDS_DIR = Path("/usr/share/asterisk/sounds")


@dataclass(frozen=True)
class Voice:
    """One bona fide speaker: an Asterisk voice directory."""
    speaker: str      # speaker id written to the protocol
    directory: str    # under the sounds dir
    package: str      # Debian package that ships it
    split: str


VOICES = (
    Voice("ast_en_allison", "en_US_f_Allison", "asterisk-core-sounds-en-wav", "train"),
    Voice("ast_es_allison", "es_MX_f_Allison", "asterisk-core-sounds-es-wav", "train"),
    Voice("ast_fr_june", "fr_CA_f_June", "asterisk-core-sounds-fr-wav", "dev"),
    Voice("ast_it_carlo", "it_IT_m_Carlo", "asterisk-core-sounds-it-wav", "eval"),
    Voice("ast_ru_ivrvoice", "ru_RU_f_IvrvoiceRU", "asterisk-core-sounds-ru-wav", "eval"),
)

# Commands the spoof generators call, and the Debian package of each.
COMMANDS = {"espeak-ng": "espeak-ng", "flite": "flite", "c2enc": "codec2", "c2dec": "codec2"}
PY_MODULES = {"pyworld": "pyworld==0.3.5", "soxr": "soxr==1.1.0", "scipy": "scipy==1.17.1"}

# Non-speech prompts (tones, beeps, jingles, animal noises) and the silence/ folder.
_SKIP_DIRS = {"silence"}
_SKIP_WORDS = ("beep", "tone", "jingle", "monkeys", "music", "silence")


class MissingDependencyError(RuntimeError):
    """A Debian package, command or Python module the builder needs is absent."""


def missing_requirements(sounds_dir: str | Path = DEFAULT_SOUNDS_DIR) -> list[str]:
    """Human-readable list of what is missing (empty when everything is there)."""
    sounds_dir = Path(sounds_dir)
    debs, pips = [], []
    for cmd, pkg in COMMANDS.items():
        if shutil.which(cmd) is None and pkg not in debs:
            debs.append(pkg)
    for v in VOICES:
        if not (sounds_dir / v.directory).is_dir():
            debs.append(v.package)
    for mod, pin in PY_MODULES.items():
        if importlib.util.find_spec(mod) is None:
            pips.append(pin)
    out = []
    if debs:
        out.append("apt-get install " + " ".join(debs))
    if pips:
        out.append("pip install " + " ".join(pips))
    return out


def check_requirements(sounds_dir: str | Path = DEFAULT_SOUNDS_DIR) -> None:
    """Raise :class:`MissingDependencyError` naming exactly what to install."""
    missing = missing_requirements(sounds_dir)
    if missing:
        raise MissingDependencyError(
            "the demo corpus builder needs tools that are not installed (sounds dir "
            f"{sounds_dir}); install them with: " + " && ".join(missing))


def is_speech_name(rel: Path) -> bool:
    """False for prompts that are not speech (by folder or file name)."""
    if any(part in _SKIP_DIRS for part in rel.parts[:-1]):
        return False
    stem = rel.stem.lower()
    return not any(w in stem for w in _SKIP_WORDS)


def eligible_clips(sounds_dir: str | Path, min_seconds: float = 2.0,
                   max_seconds: float = 30.0) -> dict[str, list[Path]]:
    """Speech prompts per speaker id, sorted, long enough to be sentences.

    A file whose exact bytes occur in more than one voice directory is not speech of
    that voice (shared tones and sound effects), so it is dropped.
    """
    sounds_dir = Path(sounds_dir)
    found: dict[str, list[tuple[Path, str]]] = {}
    owners: dict[str, set[str]] = {}
    for v in VOICES:
        root = sounds_dir / v.directory
        clips = []
        for path in sorted(root.rglob("*.wav")):
            if not is_speech_name(path.relative_to(root)):
                continue
            info = sf.info(str(path))
            dur = info.frames / info.samplerate
            if not (min_seconds <= dur <= max_seconds):
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            owners.setdefault(digest, set()).add(v.speaker)
            clips.append((path, digest))
        found[v.speaker] = clips
    return {spk: [p for p, d in clips if len(owners[d]) == 1] for spk, clips in found.items()}
