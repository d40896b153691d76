"""Read a CTranslate2 ``model.bin`` as plain numpy arrays (no CTranslate2, no pickle).

The file is little-endian: a header (binary version, spec name, spec revision), then a
flat list of named tensors (name, rank, dims, dtype id, byte count, raw bytes), then a
list of aliases (one name pointing at another tensor). Strings are a uint16 length that
counts a trailing NUL byte. This module reads that list and, for Whisper models, maps
the encoder's tensors onto the parameter names of transformers' ``WhisperEncoder``.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

SUPPORTED_VERSIONS = (5, 6)  # binary versions with a spec revision and aliases
_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # id 5 is bfloat16


class CT2FormatError(ValueError):
    """The file is not a CTranslate2 model this reader understands."""


class _Reader:
    def __init__(self, data: bytes, path: str):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CT2FormatError(f"{self.path}: truncated at byte {self.pos} (wanted {n} more)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.scalar("H")
        raw = self.take(n)
        if n == 0 or raw[-1] != 0:
            raise CT2FormatError(f"{self.path}: malformed string at byte {self.pos - n}")
        return raw[:-1].decode("utf-8")


def _bfloat16_to_float32(raw: bytes) -> np.ndarray:
    return (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def read_ct2(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, tensors) of a CTranslate2 model file; aliases resolve to the same array.

    bfloat16 tensors come back as float32 (numpy has no bfloat16); others keep their dtype."""
    path = Path(path)
    r = _Reader(path.read_bytes(), str(path))
    version = r.scalar("I")
    if version not in SUPPORTED_VERSIONS:
        raise CT2FormatError(f"{path}: CTranslate2 binary version {version} is not supported "
                             f"(this reader knows {SUPPORTED_VERSIONS})")
    header = {"version": version, "spec": r.string(), "revision": r.scalar("I")}
    tensors: dict[str, np.ndarray] = {}
    for _ in range(r.scalar("I")):
        name = r.string()
        shape = tuple(r.scalar("I") for _ in range(r.scalar("B")))
        type_id, n_bytes = r.scalar("B"), r.scalar("I")
        if type_id >= len(_DTYPES):
            raise CT2FormatError(f"{path}: tensor {name!r} has unknown dtype id {type_id}")
        raw = r.take(n_bytes)
        dtype = _DTYPES[type_id]
        arr = _bfloat16_to_float32(raw) if dtype is None else np.frombuffer(raw, dtype=dtype)
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise CT2FormatError(f"{path}: tensor {name!r} has {arr.size} values for shape {shape}")
        tensors[name] = arr.reshape(shape)
    for _ in range(r.scalar("I")):
        alias, target = r.string(), r.string()
        if target not in tensors:
            raise CT2FormatError(f"{path}: alias {alias!r} points at missing tensor {target!r}")
        tensors[alias] = tensors[target]
    if r.pos != len(r.data):
        raise CT2FormatError(f"{path}: {len(r.data) - r.pos} unread bytes after the tensor list")
    return header, tensors


def whisper_encoder_config(tensors: dict[str, np.ndarray]) -> dict:
    """transformers ``WhisperConfig`` fields of the encoder, read off the tensor shapes."""
    if "encoder/conv1/weight" not in tensors:
        raise CT2FormatError("not a Whisper model: no encoder/conv1/weight tensor")
    d_model, n_mels, _ = tensors["encoder/conv1/weight"].shape
    n_layers = 0
    while f"encoder/layer_{n_layers}/ffn/linear_0/weight" in tensors:
        n_layers += 1
    heads = int(tensors["encoder/num_heads"]) if "encoder/num_heads" in tensors else max(1, d_model // 64)
    return {"d_model": int(d_model), "num_mel_bins": int(n_mels), "encoder_layers": n_layers,
            "encoder_attention_heads": heads,
            "encoder_ffn_dim": int(tensors["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
            "max_source_positions": int(tensors["encoder/position_encodings/encodings"].shape[0])}


def whisper_encoder_state_dict(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CTranslate2 Whisper encoder tensors under transformers' ``WhisperEncoder`` names.

    CTranslate2 stores the query/key/value projections fused ([3D, D]) with a key bias
    (zeros from the converter); transformers' key projection has no bias. A key bias adds
    the same value to every attention logit of a query, which softmax cancels, so dropping
    it changes nothing."""
    cfg = whisper_encoder_config(tensors)
    d = cfg["d_model"]
    out = {"conv1.weight": tensors["encoder/conv1/weight"], "conv1.bias": tensors["encoder/conv1/bias"],
           "conv2.weight": tensors["encoder/conv2/weight"], "conv2.bias": tensors["encoder/conv2/bias"],
           "embed_positions.weight": tensors["encoder/position_encodings/encodings"],
           "layer_norm.weight": tensors["encoder/layer_norm/gamma"],
           "layer_norm.bias": tensors["encoder/layer_norm/beta"]}
    for i in range(cfg["encoder_layers"]):
        src, dst = f"encoder/layer_{i}", f"layers.{i}"
        qkv_w, qkv_b = tensors[f"{src}/self_attention/linear_0/weight"], tensors[f"{src}/self_attention/linear_0/bias"]
        if qkv_w.shape != (3 * d, d):
            raise CT2FormatError(f"{src}: fused qkv weight has shape {qkv_w.shape}, expected {(3 * d, d)}")
        for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
            out[f"{dst}.self_attn.{name}.weight"] = qkv_w[j * d:(j + 1) * d]
            if name != "k_proj":
                out[f"{dst}.self_attn.{name}.bias"] = qkv_b[j * d:(j + 1) * d]
        pairs = {"self_attn.out_proj": "self_attention/linear_1", "fc1": "ffn/linear_0", "fc2": "ffn/linear_1"}
        for hf, ct in pairs.items():
            out[f"{dst}.{hf}.weight"] = tensors[f"{src}/{ct}/weight"]
            out[f"{dst}.{hf}.bias"] = tensors[f"{src}/{ct}/bias"]
        for hf, ct in {"self_attn_layer_norm": "self_attention/layer_norm", "final_layer_norm": "ffn/layer_norm"}.items():
            out[f"{dst}.{hf}.weight"] = tensors[f"{src}/{ct}/gamma"]
            out[f"{dst}.{hf}.bias"] = tensors[f"{src}/{ct}/beta"]
    return out
