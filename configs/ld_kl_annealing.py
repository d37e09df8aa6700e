"""LD + KL annealing: beta ramps 0 -> kl_weight, linear (Bowman et al. 2016) or cyclical (Fu et al.
2019).

python -m launch.train --config=configs/ld_kl_annealing.py --workdir=/tmp/ld_kl_annealing
python -m launch.train --config=configs/ld_kl_annealing.py:smoke --workdir=/tmp/s \
        --config.model.backbone=transformer
"""

import ml_collections

from configs import default


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = default.get_config(arg)
    config.method = "ld_kl_annealing"
    config.objective.kl_schedule = "linear"  # or "cyclical"
    config.objective.kl_warmup_steps = config.train.num_steps // 2
    return config
