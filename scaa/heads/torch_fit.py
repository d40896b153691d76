"""The training loop shared by every torch head (mlp, attn, lcnn, topk): the fit, its loss, logging and epoch selection.

A subclass supplies ``build_module(in_dim) -> nn.Module`` whose ``forward(x, mask)``
returns ``{"logits": [B], "embedding": [B, E]}`` and whose ``project(embedding)``
returns L2-normalised projections [B, P] (used by contrastive losses). Pooled input
is ``x`` [B, D] with ``mask=None``; frame input is ``x`` [B, T, D] zero-padded with a
bool ``mask`` [B, T] (True = real frame). Batches of frames are bucketed by length so
padding stays small.

What the loop guarantees:

- the head's ``random_state`` drives module initialisation, dropout and the data order
  through a local generator and a scoped torch seed (:func:`scaa.seeding.scoped_seed`);
  the process's global random state and determinism setting are left as they were;
  same ``random_state`` => identical scores;
- AdamW (``lr``, ``weight_decay``), at most ``epochs`` epochs of ``batch_size``;
- model selection and early stopping on **dev EER only** (``patience`` epochs without a
  strictly lower dev EER); the best-dev-EER state is kept. Without dev, the last epoch is kept;
- ``log`` gets one dict per epoch: epoch, train_loss, train_<part> for each loss part,
  dev_eer, seconds; the ``scaa.train`` logger gets one line per epoch (loss, dev EER, best
  so far, seconds, ETA), which the workflow sends to the job log, and a tqdm bar over the
  batches shows on an interactive terminal;
- ``train_precision``: "auto" runs the training forward pass under bfloat16 autocast when
  the head gains from it (``bf16_gains``: ``lcnn`` and ``attn``) on CPUs with native
  bfloat16 (AVX512-BF16 or AMX), and in float32 elsewhere; "bfloat16" or "float32" force
  one. What was used is saved as ``train_precision_``. Scores are float32, except the
  per-epoch dev scoring of bf16 training (epoch selection and early stopping only), which
  runs under the same autocast at about half the cost; bf16 training also steps a fused
  AdamW (float32 keeps the foreach one and so its results to the bit);
- the process's allocator keeps freed memory (:mod:`scaa.allocator`, glibc only), so each
  step reuses the last one's buffers instead of faulting in fresh pages;
- pooled array input (not Features) is checked with scikit-learn's ``validate_data``, as
  the scikit-learn heads do: sparse, 1-D, empty or non-finite X, and scoring input with
  another width than ``n_features_in_``, are rejected with scikit-learn's messages; a
  column-vector y is raveled with a warning (the heads pass ``check_estimator``,
  tests/test_estimator_api.py). Features input keeps the head's own checks;
- inputs are standardised with the training mean/std (per feature dimension), which are
  saved with the weights;
- the loss is the hyper-parameter ``loss``: a registered name, a ``{"type": ...}`` spec
  or a registered loss object; the fitted copy is ``loss_`` (its spec ``loss_spec_``);
- multi-view input: ``train.meta["views"]`` maps view name -> Features of the same clips in
  the same order. A loss with ``needs_views == 2`` sees the anchor (``train``) plus one
  other view per step, chosen per batch with the seeded RNG (the classifier term sees the
  anchor's logits; ``z`` holds both views' projections); a single-view loss (``ce``)
  gets the other views as extra training rows (augmentation). An entry that *is* the
  anchor (same object, or equal pooled matrix) is ignored;
- save/load: safetensors (module + loss state, input mean/std) and JSON (constructor
  params, loss spec, class counts, classes); never pickle.
"""
from __future__ import annotations

import copy
import logging
import sys
import time
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from scaa import metrics
from scaa.allocator import keep_freed_memory
from scaa.featstore import Features
from scaa.heads.base import binary_classes, dev_data, positive, training_data
from scaa.heads.torch_data import Collated, concat_features, feature_stats, preconverts
from scaa.heads.torch_nn import cpu_has_bf16
from scaa.registry import LOSSES
from scaa.seeding import as_seed, scoped_seed

PRECISIONS = ("auto", "bfloat16", "float32")
logger = logging.getLogger("scaa.train")


def eta(seconds: float) -> str:
    """``seconds`` as 1h02m or 3m05s."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def resolve_loss(loss: Any) -> tuple[nn.Module, dict]:
    """A fresh loss object and its JSON spec (with "type") from None / name / spec / object."""
    if loss is None:
        loss = "ce"
    if isinstance(loss, str):
        loss = {"type": loss}
    if isinstance(loss, Mapping):
        spec = dict(loss)
        obj = LOSSES.build(spec)
    else:
        own = dict(getattr(loss, "spec", {}) or {})
        name = own.pop("type", None) or next(
            (n for n in LOSSES.names() if LOSSES.get(n) is type(loss)), None)
        if name is None:
            raise ValueError(f"loss object {type(loss).__name__} is not registered in LOSSES; cannot save it")
        spec = {"type": name, **own}
        obj = LOSSES.build(spec)  # rebuilt so repeated fits start from the same state
    obj.spec = dict(spec)
    for attr in ("forward", "score"):
        if not callable(getattr(obj, attr, None)):
            raise TypeError(f"loss {spec['type']!r} has no {attr}()")
    return obj, spec


class TorchFit:
    """The ``fit`` of :class:`scaa.heads.torch_base.TorchHead` (a mixin: the head supplies
    ``_setup``, ``_data``, ``_check``, ``_score_batches`` and ``_score_collated``)."""

    def fit(self, X, y=None, *, dev=None, log=None):
        """Train on X, y (or Features with views); ``dev`` ((X, y) or Features) selects the
        epoch and stops early; see the module docstring."""
        self.check_params()
        if self.needs == "pooled" and not isinstance(X, Features):
            X, y = self._pooled_array(X, y)
        train = training_data(X, y, self.needs)
        self._check(train, "train")
        self.classes_ = binary_classes(train.y)
        y_all = positive(train.y, self.classes_)
        dev = dev_data(dev, self.needs)
        if dev is not None:
            self._check(dev, "dev")
            if dev.y is None or len(np.unique(dev.y)) < 2:
                raise ValueError("dev must carry labels of both classes (model selection is on dev EER)")
            dev = Features(dev.utt_id, dev.X, dev.output, positive(dev.y, self.classes_))
        with scoped_seed(as_seed(self.random_state)) as rng:
            return self._fit(train, y_all, dev, rng, log)

    def _fit(self, train: Features, y_all: np.ndarray, dev: Features | None, rng: np.random.Generator, log):
        keep_freed_memory()  # steps reuse their buffers instead of faulting in fresh pages
        loss_obj, loss_spec = resolve_loss(self.loss)
        needs_views = int(getattr(loss_obj, "needs_views", 1))
        views = self._views(train)
        if needs_views > 1 + len(views):
            raise ValueError(f"loss {loss_spec['type']!r} needs {needs_views} views; train has {1 + len(views)}")
        contrastive = needs_views >= 2
        rows = [train] if contrastive else [train, *views]
        if self.standardise_inputs:
            self.mean_, self.std_ = feature_stats([train, *views])
        else:
            self.mean_ = self.std_ = None
        counts = np.bincount(y_all, minlength=2).tolist()
        self._setup(train.dim, loss_spec, counts)

        if contrastive:  # batched together: one pre-conversion choice for all views
            preconvert = preconverts([train, *views])
            data = self._data(train, preconvert)
            others = [self._data(v, preconvert) for v in views]
            y = torch.from_numpy(y_all)
        else:
            data = self._data(concat_features(rows))
            others = []
            y = torch.from_numpy(np.tile(y_all, len(rows)))
        bf16 = self.train_precision == "bfloat16" or (
            self.train_precision == "auto" and self.bf16_gains and cpu_has_bf16())
        self.train_precision_ = "bfloat16" if bf16 else "float32"
        dev_batches = None
        if dev is not None:  # the same batches every epoch: collated once (if small, as above)
            dev_rows = self._data(dev)
            dev_batches = [(idx, *dev_rows.collate(idx)) for idx in self._score_batches(dev_rows)] \
                if dev_rows.lengths is None or dev_rows.flat is not None \
                else Collated(dev_rows, self._score_batches(dev_rows))
        params = list(self.module_.parameters()) + list(self.loss_.parameters())
        # float32 keeps the foreach AdamW, so its results stay bit for bit those published
        # (docs/results/demo); bf16 training differs from them anyway and gets the fused one
        opt = torch.optim.AdamW(params, lr=float(self.lr), weight_decay=float(self.weight_decay),
                                **({"fused": True} if bf16 else {"foreach": True}))
        epochs, patience = int(self.epochs), int(self.patience)
        name = f"{self.registry_name} head"
        logger.info("%s: %d training rows, %s dev clips, at most %d epochs (patience %d), %s, %d thread(s)",
                 name, len(data), "no" if dev is None else len(dev), epochs, patience,
                 self.train_precision_, torch.get_num_threads())
        bar = progress_bar(name)
        best_state, best_eer, bad = None, np.inf, 0
        self.best_epoch_ = self.best_dev_eer_ = None
        started = time.perf_counter()
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            self.module_.train()
            self.loss_.train()
            totals: dict[str, float] = {}
            seen = 0
            batches = self._batches(len(data), data.lengths, rng)
            if bar is not None:
                bar.reset(total=len(batches))
                bar.set_description(f"{name} epoch {epoch}/{epochs}")
            for idx in batches:
                other = others[int(rng.integers(len(others)))] if contrastive else None
                x, mask = data.collate(idx, other)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    out = self.module_(x, mask)
                out = {k: v.float() for k, v in out.items()}
                B = len(idx)
                if contrastive:
                    emb = out["embedding"]
                    z = self.module_.project(emb).reshape(2, B, -1)
                    # the classifier term sees both views (as ce does with views as augmentation)
                    out = {"logits": out["logits"], "embedding": emb, "z": z}
                elif getattr(self.loss_, "uses_projection", False):
                    out["z"] = self.module_.project(out["embedding"])[None]
                total, parts = self.loss_(out, y[torch.from_numpy(np.asarray(idx))])
                if not torch.isfinite(total):
                    raise FloatingPointError(f"non-finite training loss at epoch {epoch}")
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                seen += B
                for k, v in {"loss": total.detach(), **parts}.items():
                    totals[k] = totals.get(k, 0.0) + float(v) * B
                if bar is not None:
                    bar.update()
            row = {"epoch": epoch, "train_loss": totals.pop("loss") / max(seen, 1)}
            row.update({f"train_{k}": v / max(seen, 1) for k, v in totals.items()})
            dev_eer = float("nan")
            if dev_batches is not None:
                dev_eer = metrics.eer(self._score_collated(dev_batches, len(dev), bf16), np.asarray(dev.y))
            row["dev_eer"] = dev_eer
            row["seconds"] = time.perf_counter() - t0
            if log is not None:
                log(row)
            self.epochs_run_ = epoch
            stop = False
            if dev_batches is not None:
                if dev_eer < best_eer:
                    best_eer, bad, self.best_epoch_ = dev_eer, 0, epoch
                    best_state = self._state()
                else:
                    bad += 1
                    stop = bad >= patience
            log_epoch(name, row, epochs, best_eer, self.best_epoch_, started, stop)
            if bar is not None:
                bar.set_postfix(loss=f"{row['train_loss']:.4f}", dev_eer=f"{dev_eer:.4f}", best=f"{best_eer:.4f}")
            if stop:
                break
        if bar is not None:
            bar.close()
        if best_state is not None:
            self._load_state(best_state)
            self.best_dev_eer_ = float(best_eer)
        else:
            self.best_epoch_ = self.epochs_run_
        self.module_.eval()
        self.loss_.eval()
        return self

    def _views(self, train: Features) -> list[Features]:
        views = (train.meta or {}).get("views") or {}
        out = []
        for name, v in views.items():
            if v is train or v.X is train.X:
                continue
            if len(v) != len(train) or not np.array_equal(np.asarray(v.utt_id), np.asarray(train.utt_id)):
                raise ValueError(f"view {name!r} does not hold the training clips in the same order")
            self._check(v, f"view {name!r}")
            if v.output == "pooled" and np.array_equal(v.X, train.X):
                continue
            out.append(v)
        return out

    def _batches(self, n: int, lengths: np.ndarray | None, rng: np.random.Generator) -> list[np.ndarray]:
        bs = int(self.batch_size)
        perm = rng.permutation(n)
        if lengths is None:
            batches = [perm[i:i + bs] for i in range(0, n, bs)]
        else:  # bucket: sort chunks of 32 batches by length, then shuffle the batches
            batches = []
            for s in range(0, n, bs * 32):
                c = perm[s:s + bs * 32]
                c = c[np.argsort(lengths[c], kind="stable")]
                batches += [c[i:i + bs] for i in range(0, len(c), bs)]
            batches = [batches[i] for i in rng.permutation(len(batches))]
        if len(batches) > 1:
            batches = [b for b in batches if len(b) > 1]  # batch statistics need 2+ rows
        return batches

    def _state(self) -> dict:
        return copy.deepcopy({"module": self.module_.state_dict(), "loss": self.loss_.state_dict()})

    def _load_state(self, state: dict) -> None:
        self.module_.load_state_dict(state["module"])
        self.loss_.load_state_dict(state["loss"])


def progress_bar(name: str):
    """A tqdm bar over one epoch's batches, only when stderr is an interactive terminal
    (job logs get the per-epoch lines instead)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(desc=name, unit="batch", mininterval=1.0, leave=False)


def log_epoch(name: str, row: dict, epochs: int, best_eer: float, best_epoch, started: float,
               stopping: bool) -> None:
    """One line per epoch for the job log; the ETA assumes every remaining epoch runs
    (early stopping can only make it shorter)."""
    epoch = row["epoch"]
    elapsed = time.perf_counter() - started
    left = 0 if stopping else epochs - epoch
    best = "n/a (no dev)" if not np.isfinite(best_eer) else f"{best_eer:.4f} (epoch {best_epoch})"
    logger.info("%s epoch %d/%d: train loss %.4f, dev EER %.4f, best %s, %.1f s, ETA <= %s%s", name, epoch, epochs,
             row["train_loss"], row["dev_eer"], best, row["seconds"], eta(elapsed / epoch * left),
             ", early stop (no better dev EER for patience epochs)" if stopping else "")
