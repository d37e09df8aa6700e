"""Training: state, jitted step, loop, checkpointing, sharding, metric logging."""

from ldx.train.checkpoint import Run, load_run
from ldx.train.loop import TrainConfig, train
from ldx.train.state import TrainState, make_optimizer, make_train_step
