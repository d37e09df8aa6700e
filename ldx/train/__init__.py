"""Training: typed config, state, jitted step, loop, checkpointing, runs, sharding, logging."""

from ldx.train.config import TrainConfig
from ldx.train.loop import finished_run, train
from ldx.train.run import Run, init_state, load_run, run_from_state
from ldx.train.state import TrainState, make_optimizer, make_train_step
