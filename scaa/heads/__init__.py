"""Classifier heads (scikit-learn estimator API).

Each module registers its head when imported; ``HEADS.get(name)`` imports the one it
needs (scaa.registry.BUILTINS)."""
from scaa.heads.base import Head

__all__ = ["Head"]
