"""Multinomial logistic regression on frozen image vectors: the head of a probe.

numpy + scipy rather than torch: the problem is small (thousands of
vectors, a few hundred dimensions, a handful of classes) and convex, so
L-BFGS on the exact loss and gradient converges in well under a second, to
the same answer every run, with no learning rate, epochs or batch size to
tune. torch's optimisers would add those knobs and nondeterminism for no gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Head:
    weight: np.ndarray  # (L, dim)
    bias: np.ndarray  # (L,)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weight.T + self.bias  # (N, L)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.logits(x).argmax(axis=1)


def fit_head(x: np.ndarray, y: np.ndarray, classes: int, l2: float = 1e-3, max_iter: int = 1000) -> Head:
    """Minimise mean cross-entropy + l2/2 * |W|^2 over (N, dim) vectors `x` and class indices `y`.

    Features are standardised for the fit (unit vectors have tiny coordinates,
    which L-BFGS handles badly, and it makes `l2` independent of the model's
    width); the scaling is folded back into the returned weights, so the head
    applies to raw vectors.
    """
    from scipy.optimize import minimize

    n, dim = x.shape
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = ((x - mean) / scale).astype(np.float64)  # (N, dim)
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), y] = 1.0

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:classes * dim].reshape(classes, dim), theta[classes * dim:]
        logits = z @ w.T + b  # (N, L)
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        loss = -(onehot * log_p).sum() / n + 0.5 * l2 * (w * w).sum()
        residual = (np.exp(log_p) - onehot) / n  # (N, L)
        return loss, np.concatenate([(residual.T @ z + l2 * w).ravel(), residual.sum(axis=0)])

    start = np.zeros(classes * (dim + 1))
    fitted = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    w, b = fitted.x[:classes * dim].reshape(classes, dim), fitted.x[classes * dim:]
    weight = w / scale  # (L, dim): the standardisation folded in
    return Head(weight.astype(np.float32), (b - weight @ mean).astype(np.float32))


def stratified_split(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices holding out `share` of each class; a class keeps at least one map for training."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        k = min(round(share * len(members)), len(members) - 1)
        held.extend(members[:k])
        train.extend(members[k:])
    return np.sort(np.array(train, dtype=np.intp)), np.sort(np.array(held, dtype=np.intp))


def accuracy(head: Head, x: np.ndarray, y: np.ndarray) -> float | None:
    return float((head.predict(x) == y).mean()) if len(y) else None
