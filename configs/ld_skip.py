"""LD + skip connections: z is fed to the decoder at every step (Dieng et al. 2019).

python -m launch.train --config=configs/ld_skip.py --workdir=/tmp/ld_skip
python -m launch.train --config=configs/ld_skip.py:smoke --workdir=/tmp/s \
        --config.model.backbone=transformer
"""

import ml_collections

from configs import default


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = default.get_config(arg)
    config.method = "ld_skip"
    return config
