"""Training objectives for the torch heads. Importing registers the built-ins.

The protocol every loss follows (see :class:`Loss`):

- ``needs_views`` (1 or 2): how many views of each clip one training step must see;
- ``uses_projection``: whether the head must supply ``out["z"]``;
- ``setup(class_counts, embedding_dim)``: called once before training (and again on
  load, before its state is restored) so a loss can size its parameters and class weights;
- ``forward(out, y) -> (total, parts)``: ``out`` holds ``logits`` [B] (spoof logit of the
  anchor view), ``embedding`` [B, E] (anchor view) and, when projecting, ``z`` [V, B, P]
  (L2-normalised projections of V views of the same B clips); ``parts`` maps a name to a
  detached scalar for the training log;
- ``score(out) -> [B]``: the detection score, higher = more likely spoof.

Contrastive losses add ``weight`` (λ) times their term to a ``classifier`` loss (default
``ce``): total = classifier + λ·contrastive. λ = 0 is the no-contrastive ablation: the
total is then exactly the classifier loss (the contrastive term is still logged).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from scaa.registry import LOSSES


class Loss(nn.Module):
    """Base class: binary classification on ``out["logits"]``; subclasses override forward."""

    needs_views: int = 1
    uses_projection: bool = False

    def __init__(self, **spec: Any):
        super().__init__()
        self.spec = dict(spec)  # JSON-able constructor params; the head adds "type" when saving

    def setup(self, class_counts: Sequence[int], embedding_dim: int) -> None:
        """Size parameters / class weights from the training set (default: nothing to do)."""

    def score(self, out: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return out["logits"]


def _check_counts(class_counts: Sequence[int]) -> torch.Tensor:
    counts = torch.as_tensor(list(class_counts), dtype=torch.float64)
    if counts.numel() != 2 or bool((counts <= 0).any()):
        raise ValueError(f"training needs both classes (bona fide, spoof); counts = {list(class_counts)}")
    return counts


@LOSSES.register("ce")
class CrossEntropy(Loss):
    """Cross-entropy on the spoof logit, classes weighted 'balanced' (N / 2 n_c) or not at all."""

    def __init__(self, class_weight: str | None = "balanced"):
        if class_weight not in (None, "none", "balanced"):
            raise ValueError(f"ce: class_weight must be 'balanced' or none, not {class_weight!r}")
        super().__init__(class_weight=class_weight)
        self.balanced = class_weight == "balanced"
        self.register_buffer("class_weights", torch.ones(2), persistent=False)

    def setup(self, class_counts, embedding_dim):
        counts = _check_counts(class_counts)
        if self.balanced:
            self.class_weights = (counts.sum() / (2 * counts)).float()

    def forward(self, out, y):
        y = y.long()
        w = self.class_weights.to(out["logits"].device)[y]
        per = F.binary_cross_entropy_with_logits(out["logits"], y.float(), reduction="none")
        total = (w * per).sum() / w.sum()  # same normalisation as torch's weighted CE
        return total, {"ce": total.detach()}


@LOSSES.register("ocsoftmax")
class OCSoftmax(Loss):
    """One-class softmax (Zhang et al. 2021): bona fide embeddings pulled within cos m_real of
    a learned centre, spoofs pushed below cos m_fake; score = -cos (higher = spoof)."""

    def __init__(self, m_real: float = 0.9, m_fake: float = 0.2, alpha: float = 20.0):
        if not -1 <= m_fake < m_real <= 1:
            raise ValueError(f"ocsoftmax: need -1 <= m_fake < m_real <= 1, got {m_fake}, {m_real}")
        super().__init__(m_real=m_real, m_fake=m_fake, alpha=alpha)
        self.m_real, self.m_fake, self.alpha = float(m_real), float(m_fake), float(alpha)
        self.centre: nn.Parameter | None = None

    def setup(self, class_counts, embedding_dim):
        _check_counts(class_counts)
        self.centre = nn.Parameter(torch.randn(int(embedding_dim)) / embedding_dim ** 0.5)

    def cosine(self, out) -> torch.Tensor:
        if self.centre is None:
            raise RuntimeError("ocsoftmax: setup() was not called (no centre yet)")
        return F.normalize(out["embedding"], dim=1) @ F.normalize(self.centre, dim=0)

    def forward(self, out, y):
        cos = self.cosine(out)
        spoof = y.long() == 1
        margin = torch.where(spoof, cos - self.m_fake, self.m_real - cos)
        total = F.softplus(self.alpha * margin).mean()
        return total, {"ocsoftmax": total.detach()}

    def score(self, out):
        return -self.cosine(out)


class _Contrastive(Loss):
    """classifier + weight * contrastive(z, y); subclasses define ``contrastive``."""

    needs_views = 2
    uses_projection = True

    def __init__(self, weight: float = 1.0, classifier: str | Mapping = "ce", **spec):
        super().__init__(weight=weight, classifier=classifier, **spec)
        if weight < 0:
            raise ValueError(f"contrastive weight must be >= 0, got {weight}")
        self.weight = float(weight)
        self.classifier = LOSSES.build(classifier)
        if getattr(self.classifier, "needs_views", 1) != 1 or getattr(self.classifier, "uses_projection", False):
            raise ValueError(f"classifier term must be a single-view classification loss, not {classifier!r}")

    def setup(self, class_counts, embedding_dim):
        self.classifier.setup(class_counts, embedding_dim)

    def contrastive(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, out, y):
        z = out.get("z")
        if z is None or z.dim() != 3 or z.shape[0] < 2:
            raise ValueError(f"{type(self).__name__} needs out['z'] of shape [V>=2, B, P]")
        # The classifier term sees every view it is given (logits [V*B] or [B]), so that
        # weight 0 trains on the same augmented rows as plain ce with the same view set.
        n_views = out["logits"].shape[0] // y.shape[0]
        cls_total, _ = self.classifier(out, y.repeat(n_views) if n_views > 1 else y)
        if self.weight == 0:  # exact no-contrastive ablation; the term is only logged
            with torch.no_grad():
                c = self.contrastive(z, y)
            total = cls_total
        else:
            c = self.contrastive(z, y)
            total = cls_total + self.weight * c
        return total, {"classifier": cls_total.detach(), "contrastive": c.detach()}

    def score(self, out):
        return self.classifier.score(out)


def spectral_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """HaoChen et al. 2021: -2 E_i[z1_i·z2_i] + E_{i≠j}[(z1_i·z2_j)^2]."""
    if z1.shape[0] < 2:
        raise ValueError("spectral_contrastive needs at least 2 clips per batch")
    s = z1 @ z2.T
    off = ~torch.eye(s.shape[0], dtype=torch.bool, device=s.device)
    return -2 * s.diagonal().mean() + s.pow(2)[off].mean()


@LOSSES.register("spectral_contrastive")
class SpectralContrastive(_Contrastive):
    """Spectral contrastive loss (HaoChen et al. 2021) between views, averaged over view pairs."""

    def __init__(self, weight: float = 1.0, classifier: str | Mapping = "ce"):
        super().__init__(weight=weight, classifier=classifier)

    def contrastive(self, z, y):
        pairs = [(a, b) for a in range(z.shape[0]) for b in range(a + 1, z.shape[0])]
        return torch.stack([spectral_contrastive_loss(z[a], z[b]) for a, b in pairs]).mean()


def supcon_loss(z: torch.Tensor, extra_pos: torch.Tensor | None, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss L_out (Khosla et al. 2020) over V*B anchors.

    Positives of an anchor: the other views of its clip, plus clips j with
    ``extra_pos[i, j]`` (bool [B, B]). Anchors are view-major rows of ``z`` [V, B, P].
    """
    V, B, P = z.shape
    f = z.reshape(V * B, P)
    clip = torch.arange(B, device=z.device).repeat(V)
    self_mask = torch.eye(V * B, dtype=torch.bool, device=z.device)
    logits = (f @ f.T / temperature).masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = clip[:, None] == clip[None, :]
    if extra_pos is not None:
        pos = pos | extra_pos[clip][:, clip]
    pos = pos & ~self_mask
    per_anchor = -log_prob.masked_fill(~pos, 0.0).sum(1) / pos.sum(1)
    return per_anchor.mean()


class _SupConBase(_Contrastive):
    def __init__(self, temperature: float = 0.1, weight: float = 1.0, classifier: str | Mapping = "ce", **spec):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        super().__init__(weight=weight, classifier=classifier, temperature=temperature, **spec)
        self.temperature = float(temperature)

    def positives(self, y: torch.Tensor) -> torch.Tensor | None:
        return None

    def contrastive(self, z, y):
        return supcon_loss(z, self.positives(y.long()), self.temperature)


@LOSSES.register("ntxent")
class NTXent(_SupConBase):
    """NT-Xent (SimCLR): the only positives are the other views of the same clip."""

    def __init__(self, temperature: float = 0.1, weight: float = 1.0, classifier: str | Mapping = "ce"):
        super().__init__(temperature=temperature, weight=weight, classifier=classifier)


@LOSSES.register("supcon")
class SupCon(_SupConBase):
    """Supervised contrastive (Khosla et al. 2020); positives = same clip's views ('view') or same class ('class')."""

    def __init__(self, temperature: float = 0.1, positives: str = "class", weight: float = 1.0,
                 classifier: str | Mapping = "ce"):
        if positives not in ("class", "view"):
            raise ValueError(f"supcon: positives must be 'class' or 'view', not {positives!r}")
        super().__init__(temperature=temperature, weight=weight, classifier=classifier, positives=positives)
        self.by_class = positives == "class"

    def positives(self, y):
        return (y[:, None] == y[None, :]) if self.by_class else None


@LOSSES.register("oc_supcon")
class OneClassSupCon(_SupConBase):
    """One-class SupCon: bona fide clips are each other's positives; a spoof's only positives are
    its own views (a compact bona fide cluster with spoofs kept apart)."""

    def __init__(self, temperature: float = 0.1, weight: float = 1.0, classifier: str | Mapping = "ce"):
        super().__init__(temperature=temperature, weight=weight, classifier=classifier)

    def positives(self, y):
        bona = y == 0
        return bona[:, None] & bona[None, :]
