"""How much each decoder step relies on z and on its past (the paper's Sec. 3.2).

measure.py  the measure: integrated gradients in forward mode, quadrature rules, summaries,
            the training probe
report.py   a trained run's measures (generated series or encoded test windows), npz, figures
"""

from ldx.dependency.measure import (
    RULES,
    completeness_error,
    decoder_fn,
    dependency_measures,
    dependency_measures_loop,
    global_dependency,
    local_dependency,
    make_probe,
    quadrature,
    summarize,
    with_z_baseline,
)
