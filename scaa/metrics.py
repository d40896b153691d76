"""Detection metrics (labels: 1 = spoof, 0 = bona fide; scores: higher = more likely spoof).

Interim minimal version; the full module (ECE, DCF, Cllr, t-DCF...) replaces it.
"""
from __future__ import annotations

import numpy as np


def eer(scores, labels) -> float:
    """Equal error rate as the ASVspoof reference computes it (stable sort, every score a threshold)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    # ASVspoof convention: target = bona fide with higher scores; we flip once here.
    tar, non = -scores[labels == 0], -scores[labels == 1]
    all_scores = np.concatenate([tar, non])
    is_tar = np.concatenate([np.ones(tar.size), np.zeros(non.size)])
    order = np.argsort(all_scores, kind="mergesort")
    is_tar = is_tar[order]
    tar_below = np.cumsum(is_tar)
    non_above = non.size - (np.arange(1, is_tar.size + 1) - tar_below)
    frr = np.concatenate([[0.0], tar_below / tar.size])
    far = np.concatenate([[1.0], non_above / non.size])
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2)
