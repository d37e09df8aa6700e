"""Data parallelism: a 1-D `data` mesh over all devices; batch sharded, state replicated."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ldx.errors import ConfigError


def data_mesh(devices=None) -> jax.sharding.Mesh:
    devices = jax.devices() if devices is None else devices
    return jax.make_mesh(
        (len(devices),), ("data",), devices=devices, axis_types=(jax.sharding.AxisType.Auto,)
    )


def shardings(mesh: jax.sharding.Mesh) -> tuple[NamedSharding, NamedSharding]:
    """(replicated, batch-sharded along its leading axis)."""
    return NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))


def check_batch_size(batch_size: int, mesh: jax.sharding.Mesh, field: str) -> None:
    n = mesh.shape["data"]
    if batch_size % n:
        raise ConfigError(
            f"{field}={batch_size} is not divisible by the number of devices "
            f"({n}); use a multiple of {n}."
        )


def shard_batch(batch: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """Places this process's rows of the global batch on its devices."""
    return jax.make_array_from_process_local_data(sharding, batch)
