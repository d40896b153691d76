"""Load a detector of any kind (cell, fusion, ONNX graph, pretrained) with the command's threads, precision and plugins."""
from __future__ import annotations


def model_options(threads: int, bf16: bool, int8: bool, allow_plugins) -> dict:
    """The detector loaders' keywords for the command's --threads, --bf16, --int8 and plugins."""
    return {"threads": threads, "dtype": "bfloat16" if bf16 else None, "quantize": "int8" if int8 else None,
            "allow_plugins": allow_plugins}


def load_detector(run_dir: str, threads: int, bf16: bool, int8: bool, runtime: str = "torch", allow_plugins=()):
    """The detector ``run_dir`` names, warmed up: a pretrained model, a fusion directory, a
    cell's exported ONNX graph (``runtime="onnx"``) or a trained cell. Model errors raise."""
    from scaa.inference.detector import Detector
    from scaa.inference.fused import FusedDetector
    from scaa.inference.pretrained import is_pretrained

    if is_pretrained(run_dir):  # a pretrained model (scaa.inference.pretrained), built as a cell's detector
        if runtime == "onnx":
            raise ValueError(f"--runtime onnx scores exported cells; {run_dir} has no exported graph")
        detector = Detector.from_run(run_dir, **model_options(threads, bf16, int8, allow_plugins))
    elif FusedDetector.is_fusion(run_dir):  # a fusion: each member runs once per file
        if runtime == "onnx":
            raise ValueError("--runtime onnx scores single cells, not fusions")
        detector = FusedDetector.from_dir(run_dir, **model_options(threads, bf16, int8, allow_plugins))
    elif runtime == "onnx":
        if bf16 or int8:
            raise ValueError("--bf16/--int8 apply to the torch runtime, not --runtime onnx")
        from scaa.inference.onnx_detector import OnnxDetector

        detector = OnnxDetector.from_run(run_dir, threads=threads, allow_plugins=allow_plugins)
    else:
        detector = Detector.from_run(run_dir, **model_options(threads, bf16, int8, allow_plugins))
    detector.warm_up()
    return detector


def load_front_end(run_dir: str, threads: int, bf16: bool, int8: bool, runtime: str = "torch", allow_plugins=()):
    """A single cell's detector with its encoder built and warmed up but no head yet (see
    :class:`scaa.inference.parallel.Prefetch`); None for a fusion or the onnx runtime, which load in one go."""
    from scaa.inference.detector import Detector
    from scaa.inference.fused import FusedDetector
    from scaa.inference.pretrained import is_pretrained

    if runtime != "torch" or (not is_pretrained(run_dir) and FusedDetector.is_fusion(run_dir)):
        return None
    detector = Detector.front_end(run_dir, **model_options(threads, bf16, int8, allow_plugins))
    detector.warm_up()
    return detector
