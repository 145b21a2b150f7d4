"""Multinomial logistic regression on frozen image vectors: the head of a probe.

numpy + scipy rather than torch: the problem is small (thousands of
vectors, a few hundred dimensions, a handful of classes) and convex, so
L-BFGS on the exact loss and gradient converges in well under a second, to
the same answer every run, with no learning rate, epochs or batch size to
tune. torch's optimisers would add those knobs and nondeterminism for no gain.

The head may be pulled toward a `prior` head instead of toward zero: the
model's own zero-shot classifier over the same labels. With a few labelled
maps it then stays near the zero-shot answer; with many it moves as far as
the labels ask. How hard it is pulled (`l2`) is chosen by cross-validation
on the labelled maps (`choose_l2`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Threads the BLAS library may use while a head is fitted; None leaves its own count. The matrices are tiny
# ((N, dim) @ (dim, L)), so threads cost more in hand-offs than they gain: on 2 cores, with torch's thread pool
# beside OpenBLAS's, a cross-validated fit over 2,166 maps took 70 s with OpenBLAS's 2 threads and 4.7 s with one
# (benchmarks/probe_fit_speed.py).
BLAS_THREADS: int | None = 1
L2_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)  # penalties `choose_l2` tries, weakest first
FALLBACK_L2 = 1e-1  # when some class has too few maps to cross-validate


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """(N, L) log-probabilities of the softmax over each row, computed without overflow; `logits` is changed."""
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class Head:
    weight: np.ndarray  # (L, dim)
    bias: np.ndarray  # (L,)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weight.T + self.bias  # (N, L)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.logits(x).argmax(axis=1)

    def log_loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy of the softmax over `logits` against class indices `y`."""
        log_p = log_softmax(self.logits(x).astype(np.float64))
        return float(-log_p[np.arange(len(y)), y].mean())


def fit_head(x: np.ndarray, y: np.ndarray, classes: int, l2: float = 1e-3, max_iter: int = 1000,
             prior: Head | None = None) -> Head:
    """Minimise mean cross-entropy + l2/2 * |W - W_prior|^2 over (N, dim) vectors `x` and class indices `y`.

    Features are standardised for the fit (unit vectors have tiny coordinates,
    which L-BFGS handles badly, and it makes `l2` independent of the model's
    width); the scaling is folded back into the returned weights, so the head
    applies to raw vectors. Without a prior, W_prior is zero; with one, the
    fit also starts from it.
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    n, dim = x.shape
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    z = ((x - mean) / scale).astype(np.float64)  # (N, dim)
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), y] = 1.0
    if prior is None:
        w0, b0 = np.zeros((classes, dim)), np.zeros(classes)
    else:  # the prior head in standardised coordinates: z @ w0.T + b0 == x @ prior.weight.T + prior.bias
        w0 = prior.weight.astype(np.float64) * scale
        b0 = prior.bias.astype(np.float64) + prior.weight.astype(np.float64) @ mean

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:classes * dim].reshape(classes, dim), theta[classes * dim:]
        log_p = log_softmax(z @ w.T + b)  # (N, L)
        pull = w - w0
        loss = -(onehot * log_p).sum() / n + 0.5 * l2 * (pull * pull).sum()
        residual = (np.exp(log_p) - onehot) / n  # (N, L)
        return loss, np.concatenate([(residual.T @ z + l2 * pull).ravel(), residual.sum(axis=0)])

    start = np.concatenate([w0.ravel(), b0])
    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        fitted = minimize(loss_and_grad, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    w, b = fitted.x[:classes * dim].reshape(classes, dim), fitted.x[classes * dim:]
    weight = w / scale  # (L, dim): the standardisation folded in
    return Head(weight.astype(np.float32), (b - weight @ mean).astype(np.float32))


def stratified_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """(N,) fold index per map, each class dealt round-robin over the folds in a random order."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.intp)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        fold[members] = np.arange(len(members)) % folds
    return fold


def choose_l2(x: np.ndarray, y: np.ndarray, classes: int, prior: Head | None = None,
              grid: tuple[float, ...] = L2_GRID, folds: int = 5, seed: int = 0) -> float:
    """The penalty in `grid` with the lowest cross-validated log-loss (stratified folds, at most `folds`).

    Log-loss rather than accuracy: it also rewards confidences that mean
    something, and it rarely ties on small data. `FALLBACK_L2` when the
    smallest class has fewer than two maps.
    """
    folds = min(folds, int(np.bincount(y, minlength=classes)[np.unique(y)].min()))
    if folds < 2:
        return FALLBACK_L2
    fold = stratified_folds(y, folds, seed)
    losses = []
    for l2 in grid:
        held_losses = []
        for k in range(folds):
            train, held = fold != k, fold == k
            head = fit_head(x[train], y[train], classes, l2, prior=prior)
            held_losses.append(head.log_loss(x[held], y[held]) * held.sum())
        losses.append(sum(held_losses) / len(y))
    return grid[int(np.argmin(losses))]


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
