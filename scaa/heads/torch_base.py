"""The training loop shared by every torch head (mlp, attn, lcnn, topk).

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
import functools
import logging
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from scaa import metrics
from scaa.allocator import keep_freed_memory
from scaa.featstore import Features
from scaa.heads.base import Head, as_features, binary_classes, dev_data, positive, saved_params, training_data
from scaa.heads.io import load_arrays, save_arrays
from scaa.registry import LOSSES
from scaa.seeding import as_seed, scoped_seed

PRECISIONS = ("auto", "bfloat16", "float32")
EVAL_FRAMES = 8192  # padded frames per scoring batch of frame input: bounds memory and padding, and keeps
                   # a CNN's activations small enough to stay in cache (bench/results/cnn_train_lcnn.md)
logger = logging.getLogger("scaa.train")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); Linux only."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _eta(seconds: float) -> str:
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


PRECONVERT_BYTES = 512 << 20  # frame data up to this size (as float32) is standardised once per fit


class _Data:
    """Features as standardised float32, ready to batch; ``collate(idx)`` -> (x, mask).

    Frame features (float16 in the feature cache) up to :data:`PRECONVERT_BYTES` as float32
    are converted and standardised once, into one [total frames, D] array, so a batch is
    slice copies into a zero buffer (the standardised padding value): every epoch
    re-batches the same clips, and converting and standardising per batch costs about a
    tenth of an ``attn`` epoch on scaa-dev. Larger data (a full corpus) is converted per
    batch instead, so training holds no float32 copy of it. Both give the same values to
    the bit (tests/test_heads.py)."""

    def __init__(self, feats: Features, mean: np.ndarray | None, std: np.ndarray | None, pad_to: int = 1,
                 preconvert: bool | None = None):
        """``preconvert``: standardise once (True) or per batch (False); None decides by size.
        Data batched together (``collate(idx, other)``) must share the choice."""
        self.output = feats.output
        self.pad_to = max(1, int(pad_to))
        self.mean = None if mean is None else torch.from_numpy(np.asarray(mean, np.float32))
        self.std = None if std is None else torch.from_numpy(np.asarray(std, np.float32))
        if self.output == "pooled":
            x = torch.from_numpy(np.ascontiguousarray(feats.X, dtype=np.float32))
            if x.dim() != 2:
                raise ValueError(f"pooled features must be [N, D], got shape {tuple(x.shape)}")
            self.x = self._standardise(x)
            self.lengths = None
            if not bool(torch.isfinite(self.x).all()):
                raise ValueError("features contain NaN or inf")
            return
        frames = list(feats.X)
        self.lengths = np.asarray([len(a) for a in frames], dtype=np.int64)
        if len(frames) and (self.lengths.min() < 1 or any(a.ndim != 2 for a in frames)):
            raise ValueError("frame features must be non-empty [T, D] arrays")
        dims = {a.shape[1] for a in frames}
        if len(dims) > 1:
            raise ValueError("frame features must all have the same dimension D")
        if not all(np.isfinite(a).all() for a in frames):
            raise ValueError("features contain NaN or inf")
        self.dim = dims.pop() if dims else 0
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.flat = self.clips = None
        if preconvert is None:
            preconvert = frame_bytes([feats]) <= PRECONVERT_BYTES
        if preconvert:
            self.flat = np.concatenate(frames, dtype=np.float32) if frames else np.zeros((0, 0), np.float32)
            if self.mean is not None:
                torch.from_numpy(self.flat).sub_(self.mean).div_(self.std)  # in place, as _standardise
        else:
            self.clips = [torch.from_numpy(np.asarray(a)) for a in frames]  # views: no copy

    def _standardise(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mean is None else (x - self.mean) / self.std

    def __len__(self) -> int:
        return int(self.x.shape[0]) if self.output == "pooled" else len(self.lengths)

    def collate(self, idx: np.ndarray, other: "_Data | None" = None):
        """Rows ``idx`` of self (and then the same rows of ``other``) as one batch."""
        sources = [self] if other is None else [self, other]
        if self.output == "pooled":
            t = torch.from_numpy(np.asarray(idx, dtype=np.int64))
            parts = [torch.index_select(s.x, 0, t) for s in sources]
            return (parts[0] if len(parts) == 1 else torch.cat(parts)), None
        lengths = np.concatenate([s.lengths[idx] for s in sources])
        T = int(lengths.max())
        T += -T % self.pad_to
        mask = torch.from_numpy(np.arange(T) < lengths[:, None])
        rows = [(s, i) for s in sources for i in idx]
        if len({s.flat is None for s in sources}) > 1:
            raise ValueError("data batched together must all be pre-converted or all not")
        if self.flat is not None:
            x = np.zeros((len(rows), T, self.dim), np.float32)  # the mean standardises to 0
            for b, (s, i) in enumerate(rows):
                x[b, :lengths[b]] = s.flat[s.offsets[i]:s.offsets[i + 1]]
            return torch.from_numpy(x), mask
        x = torch.empty(len(rows), T, self.dim)
        for b, (s, i) in enumerate(rows):
            x[b, :lengths[b]] = s.clips[i]  # converts to float32
            x[b, lengths[b]:] = 0.0 if self.mean is None else self.mean  # standardises to 0
        if self.mean is not None:
            x.sub_(self.mean).div_(self.std)  # in place, as _standardise
        return x, mask


class _Collated:
    """A head's scoring batches of ``data``, collated anew on each pass (for large data)."""

    def __init__(self, head: "TorchHead", data: _Data):
        self.head, self.data = head, data

    def __iter__(self):
        return ((idx, *self.data.collate(idx)) for idx in self.head._score_batches(self.data))


def frame_bytes(feats: list[Features]) -> int:
    """Bytes the frames of ``feats`` take as float32 (0 for pooled features)."""
    return sum(sum(int(np.prod(a.shape)) for a in f.X) * 4 for f in feats if f.output == "frames")


def _stats(feats: list[Features]) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean/std over all rows (pooled) or all frames, float64 accumulation."""
    n, s, ss = 0, 0.0, 0.0
    for f in feats:
        X = f.X if f.output != "pooled" else [f.X[i:i + 4096] for i in range(0, len(f.X), 4096)]
        for a in X:  # chunks bound the float64 copies
            a = np.asarray(a, dtype=np.float64)
            n, s, ss = n + a.shape[0], s + a.sum(0), ss + np.einsum("ij,ij->j", a, a)
    mean = s / n
    std = np.sqrt(np.maximum(ss / n - mean ** 2, 0.0))
    std[std < 1e-8] = 1.0  # constant dimensions pass through unscaled
    return mean.astype(np.float32), std.astype(np.float32)


class TorchHead(Head):
    """Base for torch heads; see the module docstring for the training contract."""

    needs = "pooled"
    accepts_losses = None        # any registered loss
    min_views = 1
    standardise_inputs = True
    registry_name = "torch"
    bf16_gains = False           # train_precision "auto" uses bf16 autocast (on a CPU with bf16)
    pad_frames_to = 1            # frame batches are padded to a multiple of this many frames

    def __init__(self, lr: float = 1e-3, weight_decay: float = 1e-2, epochs: int = 30, batch_size: int = 256,
                 patience: int = 5, projection_dim: int = 128, eval_batch_size: int = 1024,
                 train_precision: str = "auto", loss="ce", random_state=0):
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.projection_dim = projection_dim
        self.eval_batch_size = eval_batch_size
        self.train_precision = train_precision
        self.loss = loss
        self.random_state = random_state

    # -- subclass hooks -------------------------------------------------------
    def build_module(self, in_dim: int) -> nn.Module:
        raise NotImplementedError

    def check_params(self) -> None:
        if int(self.epochs) < 1 or int(self.batch_size) < 2 or int(self.patience) < 1:
            raise ValueError("need epochs >= 1, batch_size >= 2, patience >= 1")
        if int(self.eval_batch_size) < 1 or int(self.projection_dim) < 1:
            raise ValueError("need eval_batch_size >= 1, projection_dim >= 1")
        if self.train_precision not in PRECISIONS:
            raise ValueError(f"train_precision must be one of {PRECISIONS}, not {self.train_precision!r}")

    def params(self) -> dict:
        """Constructor parameters saved in model.json (the loss is saved as ``loss``)."""
        return saved_params(self, leave_out=("loss",))

    # -- training ---------------------------------------------------------------
    def _check(self, feats: Features, what: str) -> None:
        if feats.output != self.needs:
            raise ValueError(f"{self.registry_name} head needs {self.needs} features; {what} has {feats.output}")

    def _setup(self, in_dim: int, loss_spec: dict, class_counts: list[int]) -> None:
        self.in_dim_, self.class_counts_ = int(in_dim), [int(c) for c in class_counts]
        self.n_features_in_ = self.in_dim_
        self.module_ = self.build_module(self.in_dim_)
        self.loss_, self.loss_spec_ = resolve_loss(loss_spec)
        emb_dim = int(getattr(self.module_, "embedding_dim"))
        if hasattr(self.loss_, "setup"):
            self.loss_.setup(self.class_counts_, emb_dim)

    def _data(self, feats: Features, preconvert: bool | None = None) -> _Data:
        return _Data(feats, self.mean_, self.std_, self.pad_frames_to, preconvert)

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
            self.mean_, self.std_ = _stats([train, *views])
        else:
            self.mean_ = self.std_ = None
        counts = np.bincount(y_all, minlength=2).tolist()
        self._setup(train.dim, loss_spec, counts)

        if contrastive:  # batched together: one pre-conversion choice for all views
            preconvert = frame_bytes([train, *views]) <= PRECONVERT_BYTES
            data = self._data(train, preconvert)
            others = [self._data(v, preconvert) for v in views]
            y = torch.from_numpy(y_all)
        else:
            data = self._data(_concat(rows))
            others = []
            y = torch.from_numpy(np.tile(y_all, len(rows)))
        bf16 = self.train_precision == "bfloat16" or (
            self.train_precision == "auto" and self.bf16_gains and cpu_has_bf16())
        self.train_precision_ = "bfloat16" if bf16 else "float32"
        dev_batches = None
        if dev is not None:  # the same batches every epoch: collated once (if small, as above)
            dev_rows = self._data(dev)
            dev_batches = [(idx, *dev_rows.collate(idx)) for idx in self._score_batches(dev_rows)] \
                if dev_rows.lengths is None or dev_rows.flat is not None else _Collated(self, dev_rows)
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
        bar = _progress_bar(name)
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
            _log_epoch(name, row, epochs, best_eer, self.best_epoch_, started, stop)
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

    def _state(self) -> dict:
        return copy.deepcopy({"module": self.module_.state_dict(), "loss": self.loss_.state_dict()})

    def _load_state(self, state: dict) -> None:
        self.module_.load_state_dict(state["module"])
        self.loss_.load_state_dict(state["loss"])

    # -- scoring ---------------------------------------------------------------
    def _score_batches(self, data: _Data) -> list[np.ndarray]:
        """Pooled: runs of ``eval_batch_size``. Frames: shortest first, each batch at most
        ``eval_batch_size`` clips and :data:`EVAL_FRAMES` padded frames (one clip at least),
        so a long clip does not pad a thousand short ones to its length."""
        n, bs = len(data), int(self.eval_batch_size)
        if data.lengths is None:
            return [np.arange(s, min(s + bs, n)) for s in range(0, n, bs)]
        order = np.argsort(data.lengths, kind="stable")
        out, start = [], 0
        for i in range(n):
            longest = int(data.lengths[order[i]])  # sorted: the clip i is the batch's longest
            if i > start and ((i + 1 - start) * longest > EVAL_FRAMES or i - start >= bs):
                out.append(order[start:i])
                start = i
        if start < n:
            out.append(order[start:])
        return out

    def _score(self, data: _Data) -> np.ndarray:
        return self._score_collated(_Collated(self, data), len(data))

    @torch.no_grad()
    def _score_collated(self, batches, n: int, bf16: bool = False) -> np.ndarray:
        """Scores of ``n`` clips from batches (idx, x, mask); float32 unless ``bf16``
        (the per-epoch dev scoring of bf16 training, see the module docstring)."""
        was = self.module_.training
        self.module_.eval()
        self.loss_.eval()
        scores = np.empty(n, np.float64)
        for idx, x, mask in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = self.module_(x, mask)
            scores[idx] = self.loss_.score({k: v.float() for k, v in out.items()}).double().numpy()
        self.module_.train(was)
        return scores

    def _pooled_array(self, X, y=None, fitted: bool = False):
        """Pooled array input checked as scikit-learn does (``validate_data``): sparse,
        1-D, empty (at fit), non-finite and ragged X are rejected with scikit-learn's
        messages, a column-vector y is raveled with a warning, and scoring input must have
        ``n_features_in_`` columns. float32 and float64 are kept as given (so scores do
        not change); other dtypes become float64. Features input does not come here."""
        if fitted:  # scoring an empty array still gives an empty score vector
            return validate_data(self, X, dtype=(np.float64, np.float32), reset=False, ensure_min_samples=0)
        if y is None:  # fit then says that y is required
            return validate_data(self, X, dtype=(np.float64, np.float32)), None
        return validate_data(self, X, y, dtype=(np.float64, np.float32))

    def decision_function(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        if self.needs == "pooled" and not isinstance(X, Features):
            X = self._pooled_array(X, fitted=True)
        feats = as_features(X, self.needs)
        self._check(feats, "input")
        if len(feats) == 0:
            return np.zeros(0)
        if feats.dim != self.in_dim_:
            raise ValueError(f"input has dimension {feats.dim}, head was trained on {self.in_dim_}")
        return self._score(self._data(feats))

    # -- persistence ---------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"module.{k}": v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}
        arrays.update({f"loss.{k}": v.detach().cpu().numpy() for k, v in self.loss_.state_dict().items()})
        if self.mean_ is not None:
            arrays["input.mean"], arrays["input.std"] = self.mean_, self.std_
        return arrays

    def save(self, run_dir) -> None:
        check_is_fitted(self, "module_")
        meta = {"head": self.registry_name, "params": self.params(), "in_dim": self.in_dim_,
                "loss": self.loss_spec_, "classes": self.classes_.tolist(), "class_counts": self.class_counts_,
                "best_epoch": self.best_epoch_, "best_dev_eer": self.best_dev_eer_, "epochs_run": self.epochs_run_,
                "train_precision": self.train_precision_, "n_parameters": self.n_parameters()}
        save_arrays(run_dir, self._arrays(), meta)

    def _restore(self, arrays: dict, meta: dict) -> None:
        self._setup(meta["in_dim"], meta["loss"], meta["class_counts"])
        def pick(prefix):
            return {k[len(prefix):]: torch.from_numpy(v.copy()) for k, v in arrays.items() if k.startswith(prefix)}

        self.module_.load_state_dict(pick("module."))
        self.loss_.load_state_dict(pick("loss."))
        self.mean_ = self.std_ = None
        if "input.mean" in arrays:
            self.mean_, self.std_ = arrays["input.mean"], arrays["input.std"]
        self.classes_ = np.asarray(meta.get("classes", [0, 1]))
        self.best_epoch_, self.best_dev_eer_ = meta.get("best_epoch"), meta.get("best_dev_eer")
        self.epochs_run_ = meta.get("epochs_run")
        self.train_precision_ = meta.get("train_precision")
        self.module_.eval()
        self.loss_.eval()

    @classmethod
    def load(cls, run_dir, **spec) -> "TorchHead":
        arrays, meta = load_arrays(run_dir, head=cls.registry_name)
        head = cls(**{**spec, **meta["params"], "loss": meta["loss"]})  # the saved architecture wins
        head._restore(arrays, meta)
        return head

    def n_parameters(self) -> dict:
        if not hasattr(self, "module_"):
            return {"total": 0, "trainable": 0}
        ps = list(self.module_.parameters()) + list(self.loss_.parameters())
        return {"total": int(sum(p.numel() for p in ps)),
                "trainable": int(sum(p.numel() for p in ps if p.requires_grad))}


def _progress_bar(name: str):
    """A tqdm bar over one epoch's batches, only when stderr is an interactive terminal
    (job logs get the per-epoch lines instead)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(desc=name, unit="batch", mininterval=1.0, leave=False)


def _log_epoch(name: str, row: dict, epochs: int, best_eer: float, best_epoch, started: float,
               stopping: bool) -> None:
    """One line per epoch for the job log; the ETA assumes every remaining epoch runs
    (early stopping can only make it shorter)."""
    epoch = row["epoch"]
    elapsed = time.perf_counter() - started
    left = 0 if stopping else epochs - epoch
    best = "n/a (no dev)" if not np.isfinite(best_eer) else f"{best_eer:.4f} (epoch {best_epoch})"
    logger.info("%s epoch %d/%d: train loss %.4f, dev EER %.4f, best %s, %.1f s, ETA <= %s%s", name, epoch, epochs,
             row["train_loss"], row["dev_eer"], best, row["seconds"], _eta(elapsed / epoch * left),
             ", early stop (no better dev EER for patience epochs)" if stopping else "")


def _concat(rows: list[Features]) -> Features:
    if len(rows) == 1:
        return rows[0]
    if rows[0].output == "pooled":
        X = np.concatenate([np.asarray(r.X) for r in rows])
    else:
        X = [a for r in rows for a in r.X]
    return Features(np.concatenate([np.asarray(r.utt_id) for r in rows]), X, rows[0].output)


def projector(embedding_dim: int, projection_dim: int) -> nn.Module:
    """SimCLR-style 2-layer projection head (its output is L2-normalised by ``project``)."""
    return nn.Sequential(nn.Linear(embedding_dim, projection_dim), nn.ReLU(),
                         nn.Linear(projection_dim, projection_dim))


ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()
