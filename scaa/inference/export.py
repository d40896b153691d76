"""Export a trained cell to a portable runtime: ``scaa export RUN_DIR --format onnx [--out PATH]``.

The graph takes one 16 kHz mono waveform ``wave`` [1, samples] (any length) and returns the
raw ``score`` [1] (higher = more likely spoof); calibration and the threshold stay in the
run directory's dev scores, exactly as for the torch model. What can be expressed:

- front end: the handcrafted spectral / LFCC encoder (``type: spectral``, pooled or frames),
  rebuilt in torch ops by :mod:`scaa.inference.onnx_frontend`; the float32 whisper encoder
  (``type: whisper``: log-mel, 30 s windows, layers, layer choice and pooling, all inside the
  graph), rebuilt by :mod:`scaa.inference.onnx_whisper`; the float32 AASIST / AASIST-L encoder
  (``type: aasist``, any ``output``: the clip tiled / cut to 64,600 samples inside the graph,
  then the network's reference forward), by :mod:`scaa.inference.onnx_aasist`;
- head: ``mlp``, ``lcnn`` (torch modules, with their input standardisation and the loss's
  scoring rule), ``logreg`` (a standardised dot product), ``svm`` (the RBF kernel
  against the stored support vectors) and ``score`` (a pretrained model's own score: minus
  the bona fide logit, or the spoof - bona fide logit difference); for whisper and aasist
  cells with ``freeze: topK`` the trained top layers + mlp.

Anything else is refused with the reason (other SSL/pretrained encoders: their front ends
are not rebuilt here; whisper in bfloat16 or int8, aasist in bfloat16: the graph is float32;
gmm and the attention heads: no graph here). Next to the graph goes
``<out>.json``: the SHA-256 of the weights and spec it came from (so a retrained cell never
runs a stale graph), the opset, and the parity check done at export (onnxruntime vs the
torch/numpy model on seeded synthetic clips; the export fails if they disagree).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from scaa import modeldir
from scaa.extras import MissingExtra, require

OPSET = 17
ONNX_FILE = "model.onnx"
SOURCE_FILES = ("config.yaml", "model.safetensors", "model.json")
PARITY_ATOL = 1e-3   # score units; scores are O(1..10)
PARITY_RTOL = 1e-4
LONG_CHECK_S = 45.0  # whisper cells: a clip of two 30 s windows is checked too


class NotExportable(ValueError):
    """The cell has a part that cannot be expressed as an ONNX graph here (the message says which)."""


def source_digest(run_dir: str | Path) -> dict[str, str]:
    run_dir = Path(run_dir)
    return {name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest()
            for name in SOURCE_FILES if (run_dir / name).is_file()}


def front_end_module(detector):
    """The cell's encoder as a torch module wave [1, N] -> features (or NotExportable)."""
    from scaa.encoders.aasist import AASISTEncoder
    from scaa.encoders.spectral import SpectralEncoder
    from scaa.encoders.whisper import WhisperEncoder

    enc = detector.encoder
    enc_type = (detector.spec.get("encoder") or {}).get("type")
    if isinstance(enc, AASISTEncoder):
        if enc.dtype_name != "float32":
            raise NotExportable(f"aasist encoder with dtype {enc.dtype_name} cannot be exported to ONNX: the graph is "
                                "float32 and would not compute what this cell computes; export a float32 aasist cell "
                                "(no dtype in its encoder spec)")
        from scaa.inference.onnx_aasist import AASISTFrontEnd

        return AASISTFrontEnd(enc)
    if isinstance(enc, SpectralEncoder):
        from scaa.inference.onnx_frontend import SpectralFrontEnd

        return SpectralFrontEnd(enc)
    if isinstance(enc, WhisperEncoder):
        if enc.quantize or enc.dtype_name != "float32":
            what = "dynamic int8 quantisation" if enc.quantize else f"dtype {enc.dtype_name}"
            raise NotExportable(f"whisper encoder with {what} cannot be exported to ONNX: the graph is float32 and "
                                "would not compute what this cell computes; export a float32 whisper cell "
                                "(no dtype/quantize in its encoder spec)")
        from scaa.inference.onnx_whisper import WhisperFrontEnd

        return WhisperFrontEnd(enc)
    raise NotExportable(f"encoder {enc_type!r} cannot be exported to ONNX: only the handcrafted spectral/LFCC "
                        "front end (type: spectral), the whisper encoder and the aasist encoder have a torch "
                        "version here; other pretrained and SSL encoders do not")


def scorer_module(detector):
    """A torch module wave [1, N] -> score [1] equal to ``detector.raw_scores`` (or NotExportable)."""
    import torch
    from torch import nn

    head_type = (detector.spec.get("head") or {}).get("type")
    freeze = detector.spec.get("freeze", "frozen")
    head = detector.head
    if freeze != "frozen" and type(head).__name__ != "TopKHead":
        raise NotExportable(f"freeze {freeze!r} with head {type(head).__name__} cannot be exported to ONNX")
    front = front_end_module(detector)
    f32 = lambda a: torch.from_numpy(np.asarray(a, np.float32))  # noqa: E731

    class Scorer(nn.Module):
        def __init__(self):
            super().__init__()
            self.front = front

    if freeze != "frozen":
        from scaa.inference.onnx_aasist import AASISTFrontEnd
        from scaa.inference.onnx_whisper import WhisperFrontEnd, encoder_layer

        if isinstance(front, AASISTFrontEnd):
            class AASISTTopKScorer(Scorer):
                """maps entering stage k -> trained copies of stages k..1 (AASISTTop: the graph readout
                included) -> mlp."""

                def __init__(self):
                    super().__init__()
                    self.net, self.loss = head.module_, head.loss_

                def forward(self, wave):
                    frames = self.front(wave)
                    return self.loss.score(self.net(frames, torch.ones(frames.shape[:2], dtype=torch.bool))).reshape(1)

            return AASISTTopKScorer().eval()
        if not isinstance(front, WhisperFrontEnd):
            raise NotExportable(f"top-k fine-tuned {type(detector.encoder).__name__} cells cannot be exported to "
                                "ONNX: only the whisper and aasist encoders' layers are written out here")

        class TopKScorer(Scorer):
            """frames entering the last k layers -> trained copies of those layers -> mean -> mlp."""

            def __init__(self):
                super().__init__()
                self.top, self.mlp, self.loss = head.module_.top, head.module_.mlp, head.loss_

            def forward(self, wave):
                h = self.front(wave)
                for layer in self.top.layers:
                    h = encoder_layer(layer, h, None)
                if self.top.final_norm is not None:
                    h = self.top.final_norm(h)
                return self.loss.score(self.mlp(h.mean(1))).reshape(1)

        return TopKScorer().eval()
    if head_type in ("mlp", "lcnn") and getattr(head, "module_", None) is not None:
        class TorchScorer(Scorer):
            def __init__(self):
                super().__init__()
                self.net, self.loss = head.module_, head.loss_
                self.register_buffer("mean", f32(head.mean_))
                self.register_buffer("std", f32(head.std_))
                self.frames = head.needs == "frames"

            def forward(self, wave):
                x = (self.front(wave) - self.mean) / self.std
                mask = torch.ones(x.shape[:2], dtype=torch.bool) if self.frames else None
                return self.loss.score(self.net(x, mask)).reshape(1)

        return TorchScorer().eval()
    if head_type == "logreg":
        class LogRegScorer(Scorer):
            def __init__(self):
                super().__init__()
                self.register_buffer("mean", f32(head.mean_))
                self.register_buffer("scale", f32(head.scale_))
                self.register_buffer("w", f32(head.coef_))
                self.register_buffer("b", f32([head.intercept_]))

            def forward(self, wave):  # standardise first: folding it into w loses float32 precision
                return ((self.front(wave) - self.mean) / self.scale) @ self.w + self.b

        return LogRegScorer().eval()
    if head_type == "svm":
        class SVMScorer(Scorer):
            """Two-class RBF SVC: exp(-gamma ||x - s||^2) . dual + b on standardised features."""

            def __init__(self):
                super().__init__()
                self.register_buffer("mean", f32(head.mean_))
                self.register_buffer("scale", f32(head.scale_))
                self.register_buffer("sv", f32(head.sv_))
                self.register_buffer("dual", f32(head.dual_))
                self.register_buffer("b", f32([head.intercept_]))
                self.gamma = float(head.gamma_)

            def forward(self, wave):  # differences, not |x|^2 + |s|^2 - 2 x.s: no float32 cancellation
                x = (self.front(wave) - self.mean) / self.scale          # [1, D]
                d2 = ((x[:, None, :] - self.sv[None]) ** 2).sum(-1)      # [1, n_sv]
                return torch.exp(-self.gamma * d2) @ self.dual + self.b

        return SVMScorer().eval()
    if head_type == "score":
        class ScoreScorer(Scorer):
            """A pretrained model's score as the head gives it: two columns (logits [spoof, bona fide])
            -> their difference; one -> minus it when higher means bona fide."""

            def __init__(self):
                super().__init__()
                self.two = int(head.n_features_in_) == 2
                self.sign = -1.0 if head.higher_means == "bonafide" else 1.0

            def forward(self, wave):
                x = self.front(wave)
                return (x[:, 0] - x[:, 1]) if self.two else self.sign * x[:, 0]

        return ScoreScorer().eval()
    raise NotExportable(f"head {head_type!r} cannot be exported to ONNX: supported heads are mlp, lcnn, logreg, "
                        f"svm and score ({head_type} keeps state that has no graph here)")


def export_onnx(run_dir: str | Path, out: str | Path | None = None, n_check: int = 6) -> dict:
    """Write the ONNX graph and ``<out>.json``; returns that metadata. Raises NotExportable."""
    import io
    import warnings

    import torch

    from scaa.dsp.synthesis import synthetic_clip
    from scaa.inference.detector import Detector

    require("onnx")  # torch's ONNX exporter needs it; checked before any model is loaded
    require("onnxruntime")
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / ONNX_FILE
    det = Detector.from_run(run_dir)
    scorer = scorer_module(det)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter announces its deprecation
        torch.onnx.export(scorer, (torch.from_numpy(synthetic_clip(1.0, 0))[None],), buf, dynamo=False,
                          input_names=["wave"], output_names=["score"], dynamic_axes={"wave": {1: "samples"}},
                          opset_version=OPSET)
    session = onnx_session(buf.getvalue(), threads=1)
    seconds = [round(float(s), 2) for s in np.linspace(0.5, 6.0, n_check)]
    if type(scorer.front).__name__ == "WhisperFrontEnd":  # one clip cut into 30 s windows inside the graph
        seconds.append(LONG_CHECK_S)
    clips = [synthetic_clip(s, seed) for seed, s in enumerate(seconds)]
    ref = det.raw_scores(clips)
    got = np.array([onnx_score(session, c) for c in clips])
    diff = np.abs(ref - got)
    if not np.all(diff <= PARITY_ATOL + PARITY_RTOL * np.abs(ref)):
        raise RuntimeError(f"ONNX export of {run_dir} disagrees with the torch model (max |diff| {diff.max():.3g} on "
                           f"{len(clips)} synthetic clips); not written")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    onnxruntime = require("onnxruntime")

    meta = {"format": "onnx", "opset": OPSET, "input": "wave [1, samples] float32, 16 kHz mono",
            "output": "score [1] float32 (higher = more likely spoof; calibrate with the run's dev scores)",
            "encoder": det.spec.get("encoder"), "encoder_weights": _encoder_weights(det.encoder),
            "head": det.spec.get("head"), "source_sha256": source_digest(run_dir),
            "parity": {"clips": len(clips), "seconds": seconds,
                       "max_abs_diff": float(diff.max()), "atol": PARITY_ATOL, "rtol": PARITY_RTOL},
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}
    meta["onnx_sha256"] = modeldir.sha256(out)
    Path(str(out) + ".json").write_text(json.dumps(meta, indent=1))
    if out.parent.resolve() == run_dir.resolve() and out.name == ONNX_FILE:  # the run's own export: sealed too
        modeldir.add(run_dir, [ONNX_FILE, ONNX_FILE + ".json"])
    return {"onnx": str(out), **meta}


def _encoder_weights(enc):
    """Where the encoder's weights came from, for the metadata (they are not in the run directory)."""
    from scaa.encoders.aasist import RANDOM, AASISTEncoder

    if isinstance(enc, AASISTEncoder):
        if enc.weights == RANDOM:
            return f"{enc.variant}: random (seeded)"
        from scaa import weights

        pin = getattr(weights, "PINNED", {}).get(enc.variant)
        return f"{enc.variant}: {pin.file} sha256 {pin.sha256}" if pin else f"{enc.variant}: pinned weights"
    return getattr(enc, "source", None)


def onnx_session(model, threads: int = 1):
    """An onnxruntime CPU session of ``model`` (a path or the graph's bytes) on ``threads`` threads."""
    ort = require("onnxruntime")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = int(threads)
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def onnx_score(session, wave: np.ndarray) -> float:
    """The exported graph's score of one waveform."""
    x = np.ascontiguousarray(wave, dtype=np.float32)[None]
    return float(session.run(["score"], {"wave": x})[0][0])


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", help="trained cell directory")
    parser.add_argument("--format", choices=["onnx"], default="onnx")
    parser.add_argument("--out", help=f"output path (default RUN_DIR/{ONNX_FILE}; metadata goes to <out>.json)")


def main(args) -> int:
    try:
        meta = export_onnx(args.run_dir, args.out)
    except NotExportable as err:
        print(f"scaa export: cannot export {args.run_dir}: {err}", file=sys.stderr)
        return 2
    except MissingExtra as err:
        print(f"scaa export: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        print(f"scaa export: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: meta[k] for k in ("onnx", "opset", "parity")}))
    return 0
