"""The one scoring path of every detector: decode, windows, member scores, calibrated verdict, output line.

Every detector kind (a trained cell, a fusion of cells, a cell's exported ONNX graph, the
pretrained AASIST default) is a :class:`Scorer`: it says how to turn windows into
features (:meth:`Scorer.features`), features into member scores ``[windows, k]``
(:meth:`Scorer.member_scores`) and member scores into one score per window
(:meth:`Scorer.combine`); everything else is done here, once:

1. decode the file (:func:`scaa.dsp.audio.load`; raises :class:`scaa.dsp.audio.AudioError`);
2. cut it into windows (default 4 s, hop 2 s; the last window is aligned to the end of
   the file so no tail is dropped) and compute each window's features (:meth:`Scorer.prepare`);
3. score each window; the **file score is the mean of the window scores**;
4. P(spoof) from the detector's calibrator and the decision "spoof iff score >=
   threshold" (:meth:`Scorer.verdict`, :meth:`Scorer.finish`).

:func:`detect_line` wraps that into the JSON line ``scaa detect`` prints and the server's
/v1/detect returns; a file that cannot be scored gets ``error`` (:func:`problem_text`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scaa.dsp import audio


def check_windowing(window_s: float, hop_s: float, min_seconds: float = audio.MIN_SECONDS) -> None:
    """A window must hold at least a minimum clip, and the hop must neither be zero nor
    skip audio (hop <= window)."""
    if not window_s >= min_seconds:  # also catches NaN
        raise ValueError(f"window must be at least {min_seconds} s (the shortest clip scored), not {window_s}")
    if not 0 < hop_s <= window_s:
        raise ValueError(f"hop must be > 0 and <= the window ({window_s} s), not {hop_s}")


def windows(n_samples: int, window_s: float, hop_s: float, sr: int = audio.SAMPLE_RATE) -> list[tuple[int, int]]:
    """[start, end) sample ranges: one window if the clip fits, else hop-spaced windows
    with the last one aligned to the end (the tail is always covered)."""
    check_windowing(window_s, hop_s)
    win, hop = int(round(window_s * sr)), int(round(hop_s * sr))
    if n_samples <= win:
        return [(0, n_samples)]
    starts = list(range(0, n_samples - win + 1, hop))
    if starts[-1] + win < n_samples:
        starts.append(n_samples - win)
    return [(s, s + win) for s in starts]


def nbytes(features) -> int:
    """Bytes held by features: an array, or (nested) lists of them (a fusion holds one list per member)."""
    if isinstance(features, np.ndarray):
        return features.nbytes
    if isinstance(features, (list, tuple)):
        return sum(nbytes(f) for f in features)
    return 0


@dataclass
class Prepared:
    """A file decoded, cut into windows and encoded: all of its scoring but the head, so
    workers can do it before the head is loaded (:meth:`Scorer.prepare`)."""
    ranges: list[tuple[int, int]]
    features: list  # what the detector's features() gave for the windows (cell: one float32 array per window)
    n_samples: int
    seconds: float  # decode + features

    @property
    def nbytes(self) -> int:
        return nbytes(self.features)


class Scorer:
    """What every detector kind shares: windows in, calibrated verdict and output fields out.

    A subclass defines :meth:`features`, :meth:`member_scores` and :meth:`combine`, and sets
    ``calibrator`` (``apply(scores) -> P(spoof)``), ``threshold`` and ``run_dir``;
    :meth:`member_fields` adds fields of its own to a file's line (a fusion's members)."""

    calibrator = None
    threshold: float = 0.0
    run_dir: str | None = None

    # -- what a detector kind defines ----------------------------------------------
    def features(self, waves: list[np.ndarray]) -> list:
        """Per-window features of the windows' waveforms (whatever :meth:`member_scores` takes)."""
        raise NotImplementedError

    def member_scores(self, features) -> np.ndarray:
        """Scores [windows, members] of the windows' features (a single cell: one member)."""
        raise NotImplementedError

    def combine(self, per_member: np.ndarray) -> np.ndarray:
        """One score per window from the member scores (a single cell: its only column)."""
        return per_member[:, 0]

    def member_fields(self, per_member: np.ndarray) -> dict:
        """Fields a file's line gains from its member scores (none for a single cell)."""
        return {}

    # -- shared -----------------------------------------------------------------
    def raw_scores(self, waves: list[np.ndarray]) -> np.ndarray:
        """One score per waveform (higher = more likely spoof), uncalibrated."""
        return self.combine(self.member_scores(self.features(waves)))

    def p_spoof(self, scores) -> np.ndarray:
        return self.calibrator.apply(np.asarray(scores, dtype=np.float64))

    def verdict(self, score: float) -> dict:
        """score, p_spoof, decision ("spoof" iff score >= threshold) and threshold."""
        return {"score": float(score), "p_spoof": float(self.p_spoof([score])[0]),
                "decision": "spoof" if score >= self.threshold else "bonafide", "threshold": self.threshold}

    def score_wave(self, wave: np.ndarray) -> dict:
        """One 16 kHz waveform scored as a whole: score, p_spoof, decision, threshold."""
        return self.verdict(self.raw_scores([np.asarray(wave, dtype=np.float32)])[0])

    def score_windows(self, wave: np.ndarray, window_s: float = 4.0, hop_s: float = 2.0):
        """(ranges, window scores) for a waveform cut into windows."""
        ranges = windows(len(wave), window_s, hop_s)
        return ranges, self.raw_scores([wave[a:b] for a, b in ranges])

    def prepare(self, path: str | Path, window_s: float = 4.0, hop_s: float = 2.0,
                max_seconds: float | None = None) -> Prepared:
        """Decode (raises audio.AudioError), cut into windows, compute each window's features."""
        check_windowing(window_s, hop_s)
        t0 = time.perf_counter()
        wave = audio.load(path, max_seconds=max_seconds)
        ranges = windows(len(wave), window_s, hop_s)
        feats = self.features([wave[a:b] for a, b in ranges])
        return Prepared(ranges, feats, len(wave), time.perf_counter() - t0)

    def finish(self, prepared: Prepared) -> dict:
        """A prepared file's fields: verdict of the file score (the mean of the window
        scores), the windows, member fields, duration and latency."""
        t0 = time.perf_counter()
        per_member = self.member_scores(prepared.features)  # [windows, k]
        scores = self.combine(per_member)
        out = self.verdict(float(np.mean(scores)))
        probs = self.p_spoof(scores)
        sr = audio.SAMPLE_RATE
        out["windows"] = [{"start_s": round(a / sr, 3), "end_s": round(b / sr, 3), "score": float(s),
                           "p_spoof": float(p)} for (a, b), s, p in zip(prepared.ranges, scores, probs)]
        out.update(self.member_fields(per_member))
        out["duration_s"] = round(prepared.n_samples / sr, 3)
        out["latency_ms"] = round((prepared.seconds + time.perf_counter() - t0) * 1000, 2)
        return out

    def score_file(self, path: str | Path, window_s: float = 4.0, hop_s: float = 2.0,
                   max_seconds: float | None = None) -> dict:
        """Decode (raises audio.AudioError), score each window; file score = mean of window scores."""
        return self.finish(self.prepare(path, window_s, hop_s, max_seconds))


# ---------------------------------------------------------------- the output line
# what a file's line reports as its "error" instead of failing the run (e.g. too short for the encoder)
SCORING_ERRORS = (audio.AudioError, ValueError, FloatingPointError, RuntimeError)
FILE_ESCAPE = "backslashreplace"  # how a non-UTF-8 file name is written in a line's "file"


def problem_text(err: Exception) -> str:
    """The "error" of a file that could not be scored."""
    if isinstance(err, audio.AudioError):
        return err.reason + (f": {err.detail}" if err.detail else "")
    return f"unscorable: {err}"


def printable(text: str) -> str:
    """``text`` as valid Unicode: a file name that is not valid UTF-8 (held in a str by
    surrogate escapes, as Python reads such names) gets its undecodable bytes written as
    ``\\xNN`` (Python's "backslashreplace"); other text is returned unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the name's own bytes
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", FILE_ESCAPE)


def file_fields(name: str) -> dict:
    """The "file" of an output line, valid UTF-8, plus ``file_escape`` when it had to be escaped."""
    shown = printable(name)
    return {"file": shown} if shown == name else {"file": shown, "file_escape": FILE_ESCAPE}


def detect_line(detector, path: str, model: str, window_s: float, hop_s: float, precision: str | None = None,
                problem: str | None = None, name: str | None = None, runtime: str | None = None,
                max_seconds: float | None = None, prepared=None) -> dict:
    """One output line of ``scaa detect`` (also the body of the server's /v1/detect).

    ``name`` is what the line calls the file (default ``path``; the server passes the
    uploaded file's name, so its temporary path never shows). A file that cannot be
    scored gets ``error`` (the AudioError reason, or ``unscorable: ...``) instead of scores.
    ``prepared``: the file already decoded and encoded (:meth:`Scorer.prepare`); only the head runs.
    """
    name = path if name is None else name
    shown = file_fields(name)
    line = {"file": shown.pop("file"), "model": model, **shown}
    if precision:  # scores differ a little from the model as trained: say so
        line["precision"] = precision
    if runtime:  # an exported graph scored the file (agrees with torch to the parity tolerance)
        line["runtime"] = runtime
    if problem is None:
        try:
            line.update(detector.score_file(path, window_s, hop_s, max_seconds=max_seconds) if prepared is None
                        else detector.finish(prepared))
        except SCORING_ERRORS as err:
            problem = problem_text(err)
    if problem is None and audio.truncated(path):  # scored, but the file holds less than its header says
        line["warning"] = "truncated"
    if problem is not None:
        line["error"] = printable(problem.replace(str(path), name) if name != path else problem)
    return line


def unscored_line(path: str, model: str, err: Exception, name: str | None = None) -> dict:
    """The line of a file that failed before or outside :func:`detect_line`'s scoring (the
    server's overlay): file, model and the ``error`` :func:`problem_text` gives."""
    return detect_line(None, str(path), model, 0.0, 0.0, problem=problem_text(err), name=name)
