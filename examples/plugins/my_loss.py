"""Example plugin: a focal loss (Lin et al. 2017) for SCAA, registered from outside the package.

Use it by listing the module in the workflow config (the directory must be importable,
e.g. on PYTHONPATH)::

    plugins: [my_loss]
    losses: {focal: {type: focal, gamma: 2.0}}
"""
import torch
import torch.nn.functional as F

from scaa.heads.losses import Loss
from scaa.registry import LOSSES


@LOSSES.register("focal")
class FocalLoss(Loss):
    """Focal loss on the spoof logit: down-weights easy clips by (1 - p_true)^gamma."""

    def __init__(self, gamma: float = 2.0, alpha: float = 0.5):
        super().__init__(gamma=gamma, alpha=alpha)
        self.gamma, self.alpha = float(gamma), float(alpha)

    def forward(self, out, y):
        y = y.float()
        bce = F.binary_cross_entropy_with_logits(out["logits"], y, reduction="none")
        p_true = torch.exp(-bce)
        weight = self.alpha * y + (1 - self.alpha) * (1 - y)  # alpha for spoof, 1 - alpha for bona fide
        total = (weight * (1 - p_true) ** self.gamma * bce).mean()
        return total, {"focal": total.detach()}
