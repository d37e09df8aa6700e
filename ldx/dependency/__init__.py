"""How much each decoder step relies on z and on its past (the paper's Sec. 3.2).

measure.py     the measure: integrated gradients in forward mode, quadrature rules, summaries
latent_use.py  code baselines, the swap test, the training probe
report.py      a trained run's measures (generated series or encoded test windows), npz
figures.py     the report's figures
"""

from ldx.dependency.latent_use import (
    BASELINES,
    LATENTS,
    code_baselines,
    make_probe,
    other_index,
    swap_latents,
    swap_loglik,
    swap_summary,
)
from ldx.dependency.measure import (
    RULES,
    completeness_error,
    decoder_fn,
    dependency_measures,
    dependency_measures_loop,
    global_dependency,
    local_dependency,
    quadrature,
    summarize,
    with_z_baseline,
)
