"""README.md for a built demo corpus: sources, attack table, counts, known shortcuts.

Holds no timings, so two builds with the same seed give the same README too.
"""
from __future__ import annotations

from scaa.demo_corpus.attacks import ATTACKS, SPLITS
from scaa.demo_corpus.generators import Finish
from scaa.demo_corpus.sources import VOICES


def render(summary: dict, jobs) -> str:
    fin = Finish()
    lines = [
        "# SCAA embedded demo corpus",
        "",
        "A small spoofed-speech corpus built offline and deterministically by "
        f"`python -m scaa.demo_corpus OUT_DIR --seed {summary['seed']} "
        f"--n-bonafide {summary['n_bonafide']} --n-spoof {summary['n_spoof']}`, in the "
        "ASVspoof 2019 LA layout (`LA/ASVspoof2019_LA_cm_protocols/`, `LA/ASVspoof2019_LA_{split}/flac/`; "
        "protocol lines `SPEAKER_ID AUDIO_FILE_NAME - SYSTEM_ID KEY`). Audio: 16 kHz mono PCM16 FLAC.",
        "It is a demo and a test bed for the pipeline, not a benchmark: results on it say little "
        "about real deepfakes.",
        "",
        "## Bona fide speech",
        "",
        "Asterisk core prompt recordings from Debian (`asterisk-core-sounds-*-wav`; CC BY-SA 3.0 / "
        "CC BY 3.0, see `/usr/share/doc/asterisk-core-sounds-*-wav/copyright`). One voice directory "
        "is one speaker; tones, beeps, jingles, `silence/` and clips under 2 s are excluded, and so is "
        "any file whose bytes occur in more than one voice directory (shared sound effects).",
        "",
        "| speaker | directory | split |",
        "|---|---|---|",
    ]
    lines += [f"| {v.speaker} | {v.directory} | {v.split} |" for v in VOICES]
    lines += [
        "",
        "Allison Smith recorded both the English and the Spanish set; both are in train, so the "
        "splits are disjoint by person. TTS speakers are `espeak_<voice>` / `flite_<voice>`; "
        "resynthesis attacks keep the source speaker's id (as in ASVspoof, the spoof targets a "
        "speaker of its own split).",
        "",
        "## Attacks",
        "",
        "| id | generator | family | splits | description |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {a.attack_id} | {a.kind} | {a.family} | {', '.join(a.splits)} | {a.description} |"
              for a in ATTACKS]
    lines += [
        "",
        "Eval attacks A04-A06 are unseen in train and dev; A03 is seen in dev only (never in train).",
        "",
        "## Counts",
        "",
        "| split | " + " | ".join(["bonafide"] + [a.attack_id for a in ATTACKS]) + " | total |",
        "|---" * (len(ATTACKS) + 3) + "|",
    ]
    for s in SPLITS:
        c = summary["counts"][s]
        cells = [str(c.get("bonafide", 0))] + [str(c.get(a.attack_id, 0)) for a in ATTACKS]
        lines.append(f"| {s} | " + " | ".join(cells) + f" | {sum(c.values())} |")
    lines += ["", f"Total {summary['total']} clips, {summary['hours'] * 60:.1f} minutes of audio. "
              "Mean clip length (s): " + ", ".join(f"{k} {v}" for k, v in summary["mean_seconds"].items())
              + "."]
    if summary["skipped"]:
        lines += ["", "Skipped by the post-processing checks: " +
                  ", ".join(f"{s['name']} ({s['reason']})" for s in summary["skipped"])]
    lines += [
        "",
        "## Processing (identical for both classes)",
        "",
        f"Generator output -> resample to 8 kHz -> {fin.highpass_hz:.0f} Hz high-pass (4th-order "
        f"Butterworth, zero phase) -> resample to 16 kHz (soxr HQ) -> trim silence "
        f"({fin.trim_db:.0f} dB below peak) -> first {fin.max_seconds:.0f} s -> RMS {fin.rms_dbfs:.0f} dBFS "
        f"(peak limited to {fin.peak}) -> Gaussian dither at {fin.dither_dbfs:.0f} dBFS -> PCM16. "
        f"Clips shorter than {fin.min_seconds} s after trimming are dropped.",
        "",
        "## Known shortcuts and limits",
        "",
        "- Every clip is band-limited to 80 Hz-4 kHz (the recordings are 8 kHz telephone prompts), so "
        "bandwidth carries no label.",
        "- Dither removes runs of exact digital zeros (espeak-ng pauses) from both classes alike.",
        "- Content differs: bona fide and resynthesis spoofs (A01, A03-A05) say IVR prompts; TTS spoofs "
        "(A02, A06) say one or two short written sentences (chosen so clip lengths match; see the mean "
        "lengths above). Language also differs by split (train en/es, dev fr, eval it/ru plus English flite).",
        "- Few speakers (five voices, four people): speaker identity is easy to learn; splits keep it "
        "from leaking into eval.",
        "- File names are numbered after a seeded shuffle, so they carry no class information.",
        "",
    ]
    return "\n".join(lines)
