"""Build a :class:`~scaa.inference.detector.Detector` for a named pretrained model (``pretrained:aasist_l``), the default.

``scaa detect`` and ``scaa serve`` use :data:`DEFAULT` when they are given no ``--model``,
the config has no ``detect: {model: ...}`` and there is no trained run but demo-corpus
toys (``results/ablations/summary.csv``); ``--model pretrained:aasist_l`` (or
``pretrained:aasist``) chooses one explicitly. A pretrained model is not a run directory:
nothing is read but its hash-pinned weight file (:mod:`scaa.weights`).

The detector is the authors' network as they trained it, nothing fitted on SCAA data:

- encoder ``aasist`` with ``output: logits`` (``[spoof, bona fide]`` per window; each
  window is cut or tiled to 64,600 samples as the authors evaluate), head ``score``
  (score = spoof logit - bona fide logit, the model's own log-odds of spoof);
- P(spoof) = sigmoid(score): the model's own softmax posterior (calibrator ``identity``),
  **not calibrated** on any SCAA data;
- decision: spoof iff score >= 0 (P(spoof) >= 0.5), the softmax's own decision.

Windows are those of the trained cells (``scaa detect --window 4 --hop 2``), and the file
score is the mean of the window scores.
"""
from __future__ import annotations

from scaa import calibration

PREFIX = "pretrained:"
DEFAULT = PREFIX + "aasist_l"

# ASVspoof 2019 LA train: 2,580 bona fide + 22,800 spoofed clips (attacks A01-A06)
_TRAIN = {"dataset": "ASVspoof 2019 LA train", "clips": 25_380, "bonafide": 2_580, "spoof": 22_800,
          "attacks": "A01-A06", "trained_by": "its authors (clovaai/aasist, Jung et al., ICASSP 2022)"}
# the authors' loss weights cross-entropy 0.1 (spoof) / 0.9 (bona fide): the softmax is a
# posterior under a spoof prior of 22,800 x 0.1 / (22,800 x 0.1 + 2,580 x 0.9) = 0.495
_CLASS_WEIGHTS = {"spoof": 0.1, "bonafide": 0.9}
_PRIOR_SPOOF = (22_800 * 0.1) / (22_800 * 0.1 + 2_580 * 0.9)

MODELS = {
    "aasist_l": {"title": "AASIST-L", "parameters": "85 k",
                 "published": {"eer": 0.0099, "min_tdcf": 0.0309, "on": "ASVspoof 2019 LA eval (attacks A07-A19)"},
                 "scaa_dev_eval_eer": 0.472, "scaa_dev_bonafide_called_spoof": 0.813,
                 "scaa_dev_source": "docs/results/default_model/scaa_dev_eval.json (scaa detect, 694 clips)"},
    "aasist": {"title": "AASIST", "parameters": "297 k",
               "published": {"eer": 0.0083, "min_tdcf": 0.0275, "on": "ASVspoof 2019 LA eval (attacks A07-A19)"},
               "scaa_dev_eval_eer": 0.456, "scaa_dev_bonafide_called_spoof": None,
               "scaa_dev_source": "the project's design notes (measured before this module)"},
}
PROBABILITY = ("p_spoof is the model's own softmax posterior, sigmoid(spoof logit - bona fide logit); "
               "it is not calibrated on any SCAA data")
DECISION_RULE = "spoof iff score >= 0 (p_spoof >= 0.5): the softmax's own decision, no threshold fitted"


class PretrainedError(ValueError):
    """A ``pretrained:`` name that names no known model."""


def is_pretrained(model) -> bool:
    """Whether ``model`` (a --model value) names a pretrained model rather than a directory."""
    return isinstance(model, str) and model.startswith(PREFIX)


def variant_of(model: str) -> str:
    """``pretrained:aasist_l`` -> ``aasist_l``; an unknown name is a :class:`PretrainedError`."""
    name = model[len(PREFIX):] if is_pretrained(model) else model
    if name not in MODELS:
        raise PretrainedError(f"unknown pretrained model {model!r}; known: "
                              f"{', '.join(PREFIX + k for k in MODELS)}")
    return name


def title(model: str) -> str:
    return MODELS[variant_of(model)]["title"]


def summary(model: str) -> str:
    """One sentence on what the model is and what its numbers mean."""
    m = MODELS[variant_of(model)]
    return (f"{m['title']} ({m['parameters']} parameters), trained by its authors on ASVspoof 2019 LA "
            f"({_TRAIN['clips']:,} clips; clovaai/aasist, MIT, NAVER Corp.): EER {100 * m['published']['eer']:.2f} % "
            f"on ASVspoof 2019 LA eval, about {100 * m['scaa_dev_eval_eer']:.0f} % on the scaa-dev eval set "
            "(speech unlike ASVspoof); P(spoof) is its own softmax, not calibrated")


def notice(model: str, prog: str = "scaa") -> str:
    """The one stderr line saying the default model answers and how to choose another."""
    return (f"{prog}: no model given (no --model, no detect.model in the config, no run trained beyond the demo corpus): using {model}, "
            f"{summary(model)}. Choose another with --model RUN_DIR or `detect: {{model: RUN_DIR}}` in the config.")


def info(model: str) -> dict:
    """What the model is, what it was trained on, its weight file and what its numbers mean."""
    from scaa import weights

    variant = variant_of(model)
    m = MODELS[variant]
    w = weights.describe(variant)  # never downloads
    return {
        "model": PREFIX + variant, "title": m["title"], "parameters": m["parameters"], "description": summary(model),
        "trained_on": {**_TRAIN, "loss_class_weights": _CLASS_WEIGHTS},
        "licence": w["licence"], "source": w["source"],
        "weights": {"file": w["file"], "sha256": w["sha256"], "url": w["url"], "path": w["path"],
                    **({"problem": w["problem"]} if w["problem"] else {})},
        "numbers": {
            "published_eer": m["published"]["eer"], "published_min_tdcf": m["published"]["min_tdcf"],
            "published_on": m["published"]["on"],
            "scaa_dev_eval_eer": m["scaa_dev_eval_eer"], "scaa_dev_source": m["scaa_dev_source"],
            "note": (f"{100 * m['published']['eer']:.2f} % EER is the authors' figure on ASVspoof 2019 LA eval; "
                     f"on speech unlike ASVspoof it falls to about {100 * m['scaa_dev_eval_eer']:.0f} % "
                     "(the scaa-dev eval set: other speakers, channels and attacks), close to chance"
                     + (f"; at threshold 0 it calls {100 * m['scaa_dev_bonafide_called_spoof']:.0f} % of the bona "
                        "fide clips there spoof" if m["scaa_dev_bonafide_called_spoof"] else "")),
        },
        "probability": PROBABILITY, "decision_rule": DECISION_RULE,
        "windows": "each window (scaa detect --window/--hop, default 4 s / 2 s) is cut or tiled to 64,600 samples "
                   "(4.04 s) as the authors evaluate; the file score is the mean of the window scores",
    }


def spec(model: str, dtype: str | None = None) -> dict:
    """The detector's spec: the cell it amounts to, plus ``pretrained`` (:func:`info`)."""
    variant = variant_of(model)
    encoder = {"type": "aasist", "variant": variant, "output": "logits", **({"dtype": dtype} if dtype else {})}
    return {"encoder": encoder, "head": {"type": "score", "higher_means": "bonafide"}, "freeze": "frozen",
            "cell": {"train_dataset": _TRAIN["dataset"], "encoder": "aasist", "view": "none", "loss": "ce",
                     "head": "score", "freeze": "frozen"},
            "pretrained": info(model)}


def calibration_dict() -> dict:
    """Calibration and threshold as :meth:`Detector._calibrate` takes them: P = sigmoid(score), threshold 0."""
    cal = calibration.Identity(prior_spoof=_PRIOR_SPOOF, n_bonafide=_TRAIN["bonafide"], n_spoof=_TRAIN["spoof"])
    return {"calibration": cal.to_dict(), "threshold": 0.0, "dev_eer": None, "dev_clips": None,
            "note": f"nothing fitted: {PROBABILITY}; {DECISION_RULE}"}


def front_end(model: str, detector_cls, threads: int | None = None, quantize: str | None = None,
              dtype: str | None = None, allow_plugins=()):
    """A ``detector_cls`` (:class:`~scaa.inference.detector.Detector` or a subclass, whose
    :meth:`~scaa.inference.detector.Detector.front_end` calls this) with its encoder built (the
    weights checked and loaded) and no head yet, as :meth:`Detector.front_end` gives for a
    run directory (``allow_plugins`` is taken for the loaders' common signature: a
    pretrained model imports no plugin). Raises :class:`scaa.weights.WeightsError` (how to
    fetch them) when the weights are missing. The whole detector is
    ``Detector.from_run("pretrained:NAME")``."""
    from scaa.encoders.build import build_encoder
    from scaa.inference.quantize import quantize_int8
    from scaa.threads import limit_threads

    cls = detector_cls
    name = PREFIX + variant_of(model)
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be 'int8' or None, not {quantize!r}")
    if threads:
        limit_threads(threads)
    s = spec(name, dtype)
    encoder = build_encoder(dict(s["encoder"]), s["freeze"])
    if threads:
        encoder.set_threads(threads)
    s["pretrained"] = info(name)  # the weights were found (or fetched) by now: say where
    det = cls(encoder, None, s, None, name)
    if quantize:
        det._int8_done = quantize_int8(encoder, None, require=False)
    return det


def load_head(detector) -> None:
    """The second half: the ``score`` head (nothing fitted) and P = sigmoid(score), threshold 0."""
    import numpy as np

    from scaa.inference.quantize import NO_INT8_LAYERS
    from scaa.heads.build import build_head

    head = build_head(detector.spec)
    head.fit(np.zeros((2, 2)), np.array([0, 1]))  # records classes and the two logit columns
    if detector._int8_done is not None and not detector._int8_done:
        raise ValueError(NO_INT8_LAYERS)
    detector.head = head
    detector._calibrate(calibration_dict())
