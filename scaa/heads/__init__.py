"""Classifier heads (scikit-learn estimator API). Importing registers the built-ins."""
from scaa.heads import logreg  # noqa: F401
from scaa.heads.base import Head

__all__ = ["Head"]
from scaa.heads import mlp  # noqa: F401,E402
from scaa.heads import attn, lcnn  # noqa: F401,E402
from scaa.heads import gmm, svm  # noqa: F401,E402
from scaa.heads import xattn  # noqa: F401,E402
from scaa.heads import tuned  # noqa: F401,E402
