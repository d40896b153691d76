"""Classifier heads (scikit-learn estimator API). Importing registers the built-ins."""
from scaa.heads import logreg  # noqa: F401
from scaa.heads.base import Head

__all__ = ["Head"]
