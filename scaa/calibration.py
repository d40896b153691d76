"""Score calibration fitted on dev only: Platt scaling and temperature scaling (and the identity).

Both map a raw score s (higher = more likely spoof) to posterior log-odds z(s) =
a*s + b (Platt) or s / T (temperature); ``identity`` fits nothing (z = s), for a
pretrained model whose score already is its own posterior log-odds. ``apply`` gives P(spoof) = sigmoid(z);
``llr`` gives the spoof-vs-bona-fide log-likelihood ratio z - logit(dev spoof prior),
which is what actDCF and Cllr need. Targets use Platt's smoothing
((N+ + 1)/(N+ + 2), 1/(N- + 2)) so perfectly separated dev scores still give a finite fit.
Parameters round-trip through JSON (``to_dict`` / ``from_dict``).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit

from scaa.metrics import check_binary


def _smoothed_targets(y: np.ndarray) -> np.ndarray:
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    return np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))


def _nll(z: np.ndarray, t: np.ndarray) -> float:
    return float(-(t * log_expit(z) + (1 - t) * log_expit(-z)).sum())


class Calibrator:
    method = ""

    def __init__(self):
        self.prior_spoof: float | None = None
        self.n_bonafide = self.n_spoof = 0

    def fit(self, scores, labels) -> "Calibrator":
        s, y = check_binary(scores, labels, "dev scores")
        self.n_spoof, self.n_bonafide = int(y.sum()), int(y.size - y.sum())
        self.prior_spoof = self.n_spoof / y.size
        self._fit(s, _smoothed_targets(y))
        return self

    def _fit(self, s: np.ndarray, t: np.ndarray) -> None:
        raise NotImplementedError

    def _z(self, s: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _scores(self, scores) -> np.ndarray:
        if self.prior_spoof is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        s = np.asarray(scores, dtype=np.float64)
        if not np.isfinite(s).all():
            raise ValueError("scores contain NaN/inf")
        return s

    def log_odds(self, scores) -> np.ndarray:
        """Posterior log-odds of spoof under the dev prior."""
        return self._z(self._scores(scores))

    def apply(self, scores) -> np.ndarray:
        """Calibrated P(spoof)."""
        return expit(self.log_odds(scores))

    def llr(self, scores) -> np.ndarray:
        """Spoof-vs-bona-fide log-likelihood ratio (prior log-odds of dev removed)."""
        p = self.prior_spoof
        return self.log_odds(scores) - np.log(p / (1 - p))

    def params(self) -> dict:
        raise NotImplementedError

    def to_dict(self) -> dict:
        if self.prior_spoof is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return {"method": self.method, **self.params(), "prior_spoof": self.prior_spoof,
                "n_bonafide": self.n_bonafide, "n_spoof": self.n_spoof}

    @classmethod
    def _from_params(cls, d: dict) -> "Calibrator":
        raise NotImplementedError


class Platt(Calibrator):
    """P(spoof | s) = sigmoid(a*s + b), fitted by Newton's method on smoothed targets."""

    method = "platt"

    def __init__(self, a: float = 1.0, b: float = 0.0):
        super().__init__()
        self.a, self.b = float(a), float(b)

    def _fit(self, s, t):
        mu, sd = s.mean(), s.std()
        if sd == 0:  # constant dev scores carry no information: predict the prior
            self.a, self.b = 0.0, float(np.log(t.mean() / (1 - t.mean())))
            return
        x = np.stack([(s - mu) / sd, np.ones_like(s)], axis=1)
        w = np.zeros(2)
        loss = _nll(x @ w, t)
        for _ in range(100):
            p = expit(x @ w)
            grad = x.T @ (p - t)
            hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-12 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            lr = 1.0
            while lr > 1e-8:  # backtracking keeps every step a descent step
                new = w - lr * step
                new_loss = _nll(x @ new, t)
                if new_loss <= loss:
                    break
                lr /= 2
            else:
                break
            done = np.abs(new - w).max() < 1e-10
            w, loss = new, new_loss
            if done:
                break
        self.a = float(w[0] / sd)
        self.b = float(w[1] - w[0] * mu / sd)

    def _z(self, s):
        return self.a * s + self.b

    def params(self):
        return {"a": self.a, "b": self.b}

    @classmethod
    def _from_params(cls, d):
        return cls(a=d["a"], b=d["b"])


class Temperature(Calibrator):
    """P(spoof | s) = sigmoid(s / T), T > 0: for scores that are already logits."""

    method = "temperature"

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        if not temperature > 0:
            raise ValueError("temperature must be positive")
        self.temperature = float(temperature)

    def _fit(self, s, t):
        # NLL is convex in beta = 1/T, so it is unimodal in log(beta): bounded search.
        res = minimize_scalar(lambda lb: _nll(np.exp(lb) * s, t), bounds=(-20.0, 20.0),
                              method="bounded", options={"xatol": 1e-9})
        self.temperature = float(np.exp(-res.x))

    def _z(self, s):
        return s / self.temperature

    def params(self):
        return {"temperature": self.temperature}

    @classmethod
    def _from_params(cls, d):
        return cls(temperature=d["temperature"])


class Identity(Calibrator):
    """P(spoof | s) = sigmoid(s), nothing fitted: for scores that already are a model's own
    posterior log-odds (a pretrained classifier's softmax, e.g. the default AASIST-L
    detector's spoof - bona fide logit). ``prior_spoof`` is the class balance the model was
    trained under (given, or the labels' balance when :meth:`fit` is used)."""

    method = "identity"

    def __init__(self, prior_spoof: float | None = None, n_bonafide: int = 0, n_spoof: int = 0):
        super().__init__()
        if prior_spoof is not None and not 0 < prior_spoof < 1:
            raise ValueError("prior_spoof must lie strictly between 0 and 1")
        self.prior_spoof = None if prior_spoof is None else float(prior_spoof)
        self.n_bonafide, self.n_spoof = int(n_bonafide), int(n_spoof)

    def _fit(self, s, t):
        pass  # the scores are used as they are

    def _z(self, s):
        return s

    def params(self):
        return {}

    @classmethod
    def _from_params(cls, d):
        return cls()


CALIBRATORS = {"platt": Platt, "temperature": Temperature, "identity": Identity}


def make(method: str) -> Calibrator:
    if method not in CALIBRATORS:
        raise ValueError(f"unknown calibration {method!r}; choose from {sorted(CALIBRATORS)}")
    return CALIBRATORS[method]()


def fit(method: str, scores, labels) -> Calibrator:
    """Fit a calibrator of the named method on dev scores and labels."""
    return make(method).fit(scores, labels)


def from_dict(d: dict) -> Calibrator:
    """Rebuild a fitted calibrator from ``Calibrator.to_dict()`` output."""
    if not isinstance(d, dict) or "method" not in d:
        raise ValueError("calibration params must be a dict with a 'method' key")
    cls = CALIBRATORS.get(d["method"])
    if cls is None:
        raise ValueError(f"unknown calibration {d['method']!r}")
    try:
        cal = cls._from_params(d)
        prior = float(d["prior_spoof"])
        cal.n_bonafide, cal.n_spoof = int(d["n_bonafide"]), int(d["n_spoof"])
    except KeyError as e:
        raise ValueError(f"calibration params lack {e}") from None
    if not 0 < prior < 1:
        raise ValueError("prior_spoof must lie strictly between 0 and 1")
    cal.prior_spoof = prior
    return cal
