"""Dynamic int8 quantisation of a loaded detector's torch layers (``--quantize int8``).

Only ``nn.Linear`` layers are replaced, in place, by torch's dynamic-quantised version;
the cost table (:mod:`scaa.workflow.benchmark`) reports what this changes in latency and EER.
"""
from __future__ import annotations

NO_INT8_LAYERS = "int8 dynamic quantisation does not apply: no torch nn.Linear layers in encoder or head"


def torch_modules(obj) -> dict[str, object]:
    """The torch nn.Modules an encoder or head holds as attributes (name -> module)."""
    try:
        from torch import nn
    except ImportError:  # pragma: no cover
        return {}
    return {k: v for k, v in vars(obj).items() if isinstance(v, nn.Module)}


def quantizable_linears(module) -> tuple[set[str], list[str]]:
    """Names of the nn.Linear layers dynamic int8 can replace, and those it must leave alone:
    every Linear inside torch's own nn.TransformerEncoderLayer / DecoderLayer, whose
    inference fast path reads ``.weight`` as a tensor (a quantised Linear has a method)."""
    from torch import nn

    fast_path = tuple(n for n, m in module.named_modules()
                      if isinstance(m, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)))
    ok, kept = set(), []
    for name, m in module.named_modules():
        if isinstance(m, nn.Linear):
            inside = any(name.startswith(f"{p}.") for p in fast_path)
            (kept.append(name) if inside else ok.add(name))
    return ok, kept


def quantize_int8(encoder, head, encoder_done: bool = False, require: bool = True) -> list[str]:
    """Dynamic int8 quantisation of nn.Linear layers in place; returns what was quantised.
    ``encoder=None, encoder_done=True``: the encoder was built quantised already. With
    ``require`` (the default) finding nothing to quantise is an error."""
    import warnings

    import torch

    done = ["encoder (its own quantize option)"] if encoder_done else []
    for owner_name, owner in (("encoder", encoder), ("head", head)):
        if owner is None:
            continue
        for name, mod in torch_modules(owner).items():
            if owner is head and (name == "loss_" or not name.endswith("_")):
                continue  # a head's loss scores, and its hyper-parameters (top-k's pretrained top) do not run
            names, kept = quantizable_linears(mod)
            if not names:
                continue
            with warnings.catch_warnings():  # torch.ao.quantization warns that it is deprecated
                warnings.simplefilter("ignore")
                q = torch.ao.quantization.quantize_dynamic(mod, names, dtype=torch.qint8)
            setattr(owner, name, q)
            done.append(f"{owner_name}.{name}" + (f" ({len(kept)} Linear layers of nn.Transformer*Layer kept in "
                                                   "float32)" if kept else ""))
    if require and not done:
        raise ValueError(NO_INT8_LAYERS)
    return done
