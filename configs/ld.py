"""LD: sequence VAE + latent DDPM prior (the baseline that suffers posterior collapse).

python -m launch.train --config=configs/ld.py --workdir=/tmp/ld
python -m launch.train --config=configs/ld.py:smoke --workdir=/tmp/s \
        --config.model.backbone=transformer
"""

import ml_collections

from configs import default


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = default.get_config(arg)
    config.method = "ld"
    return config
