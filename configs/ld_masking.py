"""LD + variable masking: each decoder input x_{t-1} is zeroed with probability p (Semeniuta et
al. 2017).

python -m launch.train --config=configs/ld_masking.py --workdir=/tmp/ld_masking
python -m launch.train --config=configs/ld_masking.py:smoke --workdir=/tmp/s \
        --config.model.backbone=transformer
"""

import ml_collections

from configs import default


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = default.get_config(arg)
    config.method = "ld_masking"
    config.objective.mask_rate = 0.3
    return config
