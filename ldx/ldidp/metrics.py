"""Evaluation metrics for latent dynamical models, in float64 NumPy.

Shapes (ldx/shapes.py): N trials (windows), T time, D neurons or features, Z inferred latent size,
G true latent size, F regression features.

* `affine_alignment`: MSE and correlation between true latents and inferred latents mapped by the
  least-squares affine map (fitted on one set, scored on another); `per_bin_mse` its error per
  time bin; `window_ridge` a generic linear smoother to compare them with.
* `bits_per_spike`: NLB co-smoothing score of predicted rates against a per-neuron mean-rate model.
* `smoothing_baseline`: the NLB spike-smoothing + Poisson GLM baseline for held-out neurons.
* `ridge_r2`: ridge regression (e.g. latents -> hand velocity) and its R^2.
* `mmd`: Gaussian-kernel maximum mean discrepancy between two sets of windows.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special


def _flat(x: np.ndarray) -> np.ndarray:
    """[..., F] -> [rows, F] in float64."""
    x = np.asarray(x, np.float64)
    return x.reshape(-1, x.shape[-1])


def _with_bias(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, np.ones((len(x), 1))], axis=1)


def fit_affine(inferred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Least-squares W minimising ||[z, 1] W - y||^2. # [..., Z], [..., G] -> [Z + 1, G]"""
    w, *_ = np.linalg.lstsq(_with_bias(_flat(inferred)), _flat(true), rcond=None)
    return w


def apply_affine(w: np.ndarray, inferred: np.ndarray) -> np.ndarray:
    """[z, 1] W. # [..., Z] -> [..., G]"""
    z = np.asarray(inferred, np.float64)
    return z @ w[:-1] + w[-1]


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-column Pearson correlation of two [rows, G] arrays -> [G]."""
    a, b = _flat(a), _flat(b)
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def affine_alignment(
    inferred_fit: np.ndarray,
    true_fit: np.ndarray,
    inferred_eval: np.ndarray | None = None,
    true_eval: np.ndarray | None = None,
) -> dict[str, float]:
    """Latent recovery after the best affine map from inferred to true latents.

    W = argmin ||[z, 1] W - y||^2 on the fit set; on the eval set (default: the fit set)
    y_hat = [z, 1] W and

        mse = mean_{rows, l} (y_hat - y)^2,   corr = mean_l pearson(y_hat[:, l], y[:, l]),
        r2 = mean_l (1 - SS_res,l / SS_tot,l),

    and, for windows [N, T, G], corr_within: the correlation after removing each window's time
    mean from y_hat and y (how well the dynamics inside windows are recovered, not only where
    the windows lie).

    Args:
      inferred_fit: inferred latents of the fit set. # [..., Z]
      true_fit: true latents of the fit set. # [..., G]
      inferred_eval: inferred latents of the eval set. # [..., Z]
      true_eval: true latents of the eval set. # [..., G]

    Returns:
      {"mse", "corr", "r2"} on the eval set.
    """
    w = fit_affine(inferred_fit, true_fit)
    z = inferred_fit if inferred_eval is None else inferred_eval
    y_true = np.asarray(true_fit if true_eval is None else true_eval, np.float64)
    y_pred = apply_affine(w, z)
    y, y_hat = _flat(y_true), _flat(y_pred)  # [rows, G]
    ss_res = ((y_hat - y) ** 2).sum(0)
    ss_tot = ((y - y.mean(0)) ** 2).sum(0)
    out = {
        "mse": float(((y_hat - y) ** 2).mean()),
        "corr": float(pearson(y_hat, y).mean()),
        "r2": float((1.0 - ss_res / ss_tot).mean()),
    }
    if y_true.ndim == 3:  # windows: also the within-window dynamics (each window's mean removed)
        out["corr_within"] = float(
            pearson(
                y_pred - y_pred.mean(1, keepdims=True), y_true - y_true.mean(1, keepdims=True)
            ).mean()
        )
    return out


def per_bin_mse(
    inferred_fit: np.ndarray, true_fit: np.ndarray, inferred_eval: np.ndarray, true_eval: np.ndarray
) -> np.ndarray:
    """Squared error of each time bin after the one affine map of `affine_alignment`.

    W is fitted on all bins of the fit windows together (the same map for every bin); the error
    at bin k is mean_{n, l} ([z_nk, 1] W - y_nk)_l^2 on the eval windows, so the mean over bins
    is `affine_alignment`'s mse. # [N1, T, Z], [N1, T, G], [N2, T, Z], [N2, T, G] -> [T]
    """
    w = fit_affine(inferred_fit, true_fit)
    return ((apply_affine(w, inferred_eval) - np.asarray(true_eval, np.float64)) ** 2).mean((0, 2))


def window_ridge(x_fit: np.ndarray, y_fit: np.ndarray, x_eval: np.ndarray, l2: float) -> np.ndarray:
    """A generic linear smoother: every bin's target regressed on the whole window.

    y_nk = [vec(x_n), 1] W_k for all k at once (ridge with penalty l2 * rows on the
    standardised flattened window, bias unpenalised), fitted on the fit windows: the best linear
    estimate of each bin from everything observed in its window, edge bins included.

    Args:
      x_fit: fit windows. # [N1, T, D]
      y_fit: their targets. # [N1, T, G]
      x_eval: eval windows. # [N2, T, D]
      l2: ridge penalty per row.

    Returns:
      predicted targets of the eval windows. # [N2, T, G]
    """
    f = np.asarray(x_fit, np.float64).reshape(len(x_fit), -1)  # [N1, T D]
    mu, sd = f.mean(0), f.std(0) + 1e-8
    w = ridge_fit((f - mu) / sd, np.asarray(y_fit).reshape(len(y_fit), -1), l2)
    e = (np.asarray(x_eval, np.float64).reshape(len(x_eval), -1) - mu) / sd
    return apply_affine(w, e).reshape(len(x_eval), *np.shape(y_fit)[1:])


def _poisson_loglik(rates: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Elementwise log Poisson(k; lambda) = k log lambda - lambda - log k!."""
    rates, counts = np.asarray(rates, np.float64), np.asarray(counts, np.float64)
    return scipy.special.xlogy(counts, rates) - rates - scipy.special.gammaln(counts + 1.0)


def bits_per_spike(rates: np.ndarray, counts: np.ndarray) -> float:
    """NLB bits per spike: (log L(rates) - log L(null)) / (num spikes * ln 2).

    The null model gives each neuron its mean count over all trials and bins of `counts`
    (as in nlb_tools). Args: rates and counts, both [N, T, D] (or [rows, D]).
    """
    counts = _flat(counts)  # [rows, D]
    rates = np.maximum(_flat(rates), 1e-9)
    null = np.broadcast_to(counts.mean(0, keepdims=True), counts.shape)
    gain = _poisson_loglik(rates, counts).sum() - _poisson_loglik(null, counts).sum()
    return float(gain / (counts.sum() * math.log(2.0)))


def gaussian_smooth(counts: np.ndarray, std_bins: float) -> np.ndarray:
    """NLB's spike smoothing: 'same' convolution along T with a normalised Gaussian window.

    The window is `scipy.signal.windows.gaussian(int(6 * std_bins), int(std_bins))` divided by
    its sum, and each neuron's series is zero-padded at the edges (`np.convolve(.., 'same')`),
    exactly as nlb_tools' `run_smoothing.py`.

    Args:
      counts: [N, T, D].
      std_bins: kernel standard deviation in bins (kernel sd in ms / bin size in ms).

    Returns:
      smoothed counts. # [N, T, D]
    """
    import scipy.signal

    window = scipy.signal.windows.gaussian(int(6 * std_bins), int(std_bins), sym=True)
    window = window / window.sum()  # [K]
    x = np.asarray(counts, np.float64)
    n, t, d = x.shape
    k = len(window)
    # 'same' convolution as a [T, T] matrix: out[s] = sum_t x[t] w[s - t + (K - 1) // 2].
    full_index = np.arange(t)[:, None] - np.arange(t)[None, :] + (k - 1) // 2
    inside = (full_index >= 0) & (full_index < k)
    mat = np.where(inside, window[np.clip(full_index, 0, k - 1)], 0.0)  # [T, T]
    # One [T, T] @ [T, N D] product: a single BLAS call, whatever the strides of `counts`.
    out = mat @ np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(t, n * d)  # [T, N D]
    return out.reshape(t, n, d).transpose(1, 0, 2)


def fit_poisson_glm(
    features: np.ndarray, counts: np.ndarray, alpha: float = 0.0, max_iter: int = 50
) -> np.ndarray:
    """Poisson GLM log lambda = [f, 1] w for each output column (sklearn PoissonRegressor's loss).

    Minimises, per column d, mean_rows (lambda_d - k_d log lambda_d) + (alpha / 2) ||w_{:F,d}||^2
    (the bias is not penalised; the loss is convex) by Newton's method with backtracking line
    search, stopping when the Newton decrement falls below 1e-10.

    Args:
      features: [rows, F].
      counts: [rows, D].
      alpha: L2 penalty (sklearn's `alpha`).
      max_iter: maximum Newton steps per column.

    Returns:
      weights [F + 1, D] (last row: biases).
    """
    x = _with_bias(_flat(features))  # [R, F + 1]
    y = _flat(counts)  # [R, D]
    r = len(x)
    penalty = np.full(x.shape[1], alpha)
    penalty[-1] = 0.0
    w = np.zeros((x.shape[1], y.shape[1]))

    def loss(wd, yd):
        eta = x @ wd
        return (np.exp(np.minimum(eta, 30.0)) - yd * eta).mean() + 0.5 * (penalty * wd * wd).sum()

    for d in range(y.shape[1]):  # one small convex problem per neuron
        yd = y[:, d]
        wd = np.zeros(x.shape[1])
        wd[-1] = np.log(max(yd.mean(), 1e-6))
        current = loss(wd, yd)
        for _ in range(max_iter):
            lam = np.exp(np.minimum(x @ wd, 30.0))  # [R]
            grad = x.T @ (lam - yd) / r + penalty * wd
            hess = (x * lam[:, None]).T @ x / r + np.diag(penalty + 1e-10)
            step = np.linalg.solve(hess, grad)
            decrement = grad @ step
            if decrement < 1e-10:
                break
            t = 1.0
            while (new := loss(wd - t * step, yd)) > current - 0.25 * t * decrement and t > 1e-8:
                t *= 0.5
            wd, current = wd - t * step, new
        w[:, d] = wd
    return w


def smoothing_baseline(
    heldin_fit: np.ndarray,
    heldout_fit: np.ndarray,
    heldin_eval: np.ndarray,
    std_bins: float = 12.0,
    alpha: float = 0.1,
    log_offset: float = 1e-4,
) -> np.ndarray:
    """NLB smoothing baseline: smooth held-in spikes, Poisson GLM to held-out spikes.

    Features are log(smoothed held-in count + log_offset); a Poisson GLM per held-out neuron is
    fitted on the fit trials and predicts the eval trials' held-out rates. The defaults are
    nlb_tools' settings for MC_Maze_Small at 5 ms bins (kernel sd 60 ms, alpha 0.1).

    Args:
      heldin_fit: held-in spikes of the fit trials. # [N1, T, Din]
      heldout_fit: held-out spikes of the fit trials. # [N1, T, Dout]
      heldin_eval: held-in spikes of the eval trials. # [N2, T, Din]
      std_bins: Gaussian kernel standard deviation in bins.
      alpha: GLM L2 penalty.
      log_offset: added before the log.

    Returns:
      predicted held-out rates of the eval trials. # [N2, T, Dout]
    """

    def feats(x):
        return np.log(gaussian_smooth(x, std_bins) + log_offset)

    w = fit_poisson_glm(feats(heldin_fit), heldout_fit, alpha)
    n, t = np.shape(heldin_eval)[:2]
    return np.exp(apply_affine(w, _flat(feats(heldin_eval)))).reshape(n, t, -1)


def ridge_fit(features: np.ndarray, targets: np.ndarray, l2: float = 1e-2) -> np.ndarray:
    """Ridge regression weights [F + 1, G] of [f, 1] -> y (bias not penalised)."""
    x, y = _with_bias(_flat(features)), _flat(targets)
    penalty = np.full(x.shape[1], l2 * len(x))
    penalty[-1] = 0.0
    return np.linalg.solve(x.T @ x + np.diag(penalty), x.T @ y)


def r2_score(pred: np.ndarray, target: np.ndarray) -> float:
    """Coefficient of determination, averaged uniformly over output columns."""
    pred, target = _flat(pred), _flat(target)
    ss_res = ((pred - target) ** 2).sum(0)
    ss_tot = ((target - target.mean(0)) ** 2).sum(0)
    return float((1.0 - ss_res / ss_tot).mean())


RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def ridge_r2(
    features_fit: np.ndarray,
    targets_fit: np.ndarray,
    features_eval: np.ndarray,
    targets_eval: np.ndarray,
    l2: float | None = None,
    folds: int = 5,
) -> float:
    """R^2 on the eval set of a ridge regression fitted on the fit set (features standardised).

    Args:
      features_fit: fit-set features, windows [N, T, F] or rows [R, F].
      targets_fit: fit-set targets. # [N, T, G] or [R, G]
      features_eval: eval-set features.
      targets_eval: eval-set targets.
      l2: ridge penalty per row; None chooses it from RIDGE_GRID by `folds`-fold
        cross-validation over the fit set's windows (rows within a window are correlated, so
        folds never split a window).
      folds: cross-validation folds.
    """
    if l2 is None:
        n = len(features_fit)
        fold = np.arange(n) % folds
        scores = np.mean(
            [
                _ridge_r2_grid(
                    features_fit[fold != k],
                    targets_fit[fold != k],
                    features_fit[fold == k],
                    targets_fit[fold == k],
                    RIDGE_GRID,
                )
                for k in range(min(folds, n))
            ],
            axis=0,
        )  # [len(RIDGE_GRID)]
        l2 = RIDGE_GRID[int(np.argmax(scores))]
    return _ridge_r2_grid(features_fit, targets_fit, features_eval, targets_eval, (l2,))[0]


def _ridge_r2_grid(features_fit, targets_fit, features_eval, targets_eval, penalties):
    """`ridge_r2` for each penalty, sharing one standardisation and Gram matrix. -> [P]"""
    f = _flat(features_fit)
    mu, sd = f.mean(0), f.std(0) + 1e-8
    x, y = _with_bias((f - mu) / sd), _flat(targets_fit)  # [R, F + 1], [R, G]
    gram, xty = x.T @ x, x.T @ y
    x_eval = _with_bias((_flat(features_eval) - mu) / sd)
    scores = []
    for l2 in penalties:  # the same solve as ridge_fit: bias unpenalised, penalty l2 * rows
        penalty = np.full(x.shape[1], l2 * len(x))
        penalty[-1] = 0.0
        w = np.linalg.solve(gram + np.diag(penalty), xty)
        scores.append(r2_score(x_eval @ w, targets_eval))
    return scores


def median_bandwidth(x: np.ndarray) -> float:
    """Median pairwise Euclidean distance between the rows of x [N, F] (the RBF bandwidth)."""
    x = _flat(x)
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    return float(np.sqrt(np.median(d2[np.triu_indices(len(x), 1)])))


def mmd(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Biased (V-statistic) MMD with the RBF kernel k(a, b) = exp(-||a - b||^2 / (2 h^2)).

        MMD^2 = mean k(x, x') + mean k(y, y') - 2 mean k(x, y);  returns sqrt(max(MMD^2, 0)).

    Args:
      x: windows of one set, flattened per window. # [N, ...]
      y: windows of the other set. # [M, ...]
      bandwidth: h.
    """
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)

    def k(a, b):
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
        return np.exp(-np.maximum(d2, 0.0) / (2 * bandwidth**2))

    value = k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()
    return float(math.sqrt(max(value, 0.0)))


def bin_counts(counts: np.ndarray, width: int) -> np.ndarray:
    """Sums consecutive bins: [N, T, D] -> [N, T // width, D] (a trailing remainder is dropped)."""
    n, t, d = np.shape(counts)
    t = t // width * width
    return np.asarray(counts)[:, :t].reshape(n, t // width, width, d).sum(2)
