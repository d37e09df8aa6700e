"""PSLD, the paper's framework: diffusion as variational inference + collapse simulation,
random-stop sampling.

python -m launch.train --config=configs/psld.py --workdir=/tmp/psld
python -m launch.train --config=configs/psld.py:smoke --workdir=/tmp/s \
        --config.model.backbone=transformer
"""

import ml_collections

from configs import default


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    config = default.get_config(arg)
    config.method = "psld"
    # The paper's N = 50, gamma = 2, M = 100, eta = 1 are the defaults in configs/default.py
    # (the smoke variant shrinks N and M with L).
    return config
