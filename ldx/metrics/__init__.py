"""Time-series generation metrics, all on the [0, 1] per-feature scale of the training split.

    wasserstein, sliced_wasserstein, mmd      distances between sets of flattened windows
    correlational_score                       Diffusion-TS's cross-correlation difference
    discriminative_score, predictive_score    TimeGAN's post-hoc GRU scores (mean, std over repeats)
    outside_share, step_ratio                 range and roughness of generated windows
    tells                                     which window statistics tell fake from real

Each function documents its exact definition; lower is better for all of them but step_ratio
(1 is the data's roughness).
"""

from ldx.metrics.context_fid import context_fid, frechet_distance, t_interval
from ldx.metrics.correlation import correlational_score, cross_correlations
from ldx.metrics.distances import (
    median_bandwidth,
    mmd,
    pairwise_sq_dists,
    sliced_wasserstein,
    wasserstein,
)
from ldx.metrics.learned import Repeated, discriminative_score, predictive_score
from ldx.metrics.shape import outside_share, step_ratio, tells
