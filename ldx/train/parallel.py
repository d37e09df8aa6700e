"""Data parallelism on JAX's own runtime: a 1-D `data` mesh, batch sharded, state replicated.

Shapes (ldx/shapes.py): B global batch, b this process's rows of it.

Training spans every device of every process (`data_mesh()`); each process feeds the rows of
the global batch that its devices hold (`process_rows`, `shard_batch`). Batch-parallel work
that one process does alone (sampling, evaluation, the dependency report) runs over its local
devices with `ldx.batching.batch_map`.
"""

from __future__ import annotations

import itertools
import re

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding

from ldx.batching import data_mesh, shardings  # noqa: F401  (re-exported for the loop)
from ldx.errors import ConfigError


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout_s: int = 300,
) -> None:
    """Starts JAX's multi-process runtime (`jax.distributed.initialize`), one call per process.

    Values left None are detected by JAX on SLURM, Open MPI, Kubernetes and Cloud TPU.

    Args:
      coordinator_address: "host:port" of process 0, reachable from every process.
      num_processes: number of processes in the job.
      process_id: this process's index in [0, num_processes).
      timeout_s: how long to wait for all processes to connect.

    Raises:
      ConfigError: a malformed value, or the runtime cannot start.
    """
    if coordinator_address is not None and not re.fullmatch(
        r"[^:\s]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5}", coordinator_address
    ):
        raise ConfigError(
            f"coordinator_address={coordinator_address!r} is not host:port (e.g. 10.0.0.1:1234)."
        )
    if num_processes is not None and num_processes < 1:
        raise ConfigError(f"num_processes={num_processes} must be >= 1.")
    if process_id is not None and not (
        0 <= process_id < (num_processes if num_processes is not None else process_id + 1)
    ):
        raise ConfigError(f"process_id={process_id} must be in [0, num_processes={num_processes}).")
    try:
        jax.distributed.initialize(
            coordinator_address, num_processes, process_id, initialization_timeout=timeout_s
        )
    except (ValueError, TypeError, RuntimeError) as e:
        raise ConfigError(
            f"cannot start the multi-process runtime (coordinator_address={coordinator_address}, "
            f"num_processes={num_processes}, process_id={process_id}): {e}"
        ) from e


_barriers = itertools.count()


def barrier(name: str, timeout_s: int = 1800) -> None:
    """Waits until every process reaches this barrier; a no-op with one process.

    Uses JAX's coordination service, not a device collective: CPU collectives (gloo) give up
    when a peer is more than 30 s late for the first collective, and processes drift by more
    than that while they load data or compile on a busy machine.
    """
    if jax.process_count() > 1:
        key = f"ldx_{name}_{next(_barriers)}"
        ocp.multihost.get_barrier_sync_fn()(key=key, timeout_ms=timeout_s * 1000)


def check_batch_size(batch_size: int, mesh: jax.sharding.Mesh, field: str) -> None:
    n = mesh.shape["data"]
    if batch_size % n:
        raise ConfigError(
            f"{field}={batch_size} is not divisible by the number of devices "
            f"({n}); use a multiple of {n}."
        )


def process_rows(sharding: NamedSharding, batch_size: int) -> slice:
    """The rows of a global batch [B, ...] that this process's devices hold under `sharding`.

    The mesh's device order need not follow process order (jax.make_mesh may reorder devices
    for the network topology), so the rows are read off the sharding, not computed from the
    process index.
    """
    index_map = sharding.addressable_devices_indices_map((batch_size,))
    spans = sorted({(i[0].indices(batch_size)[:2]) for i in index_map.values()})
    start, stop = spans[0][0], spans[-1][1]
    if sum(b - a for a, b in spans) != stop - start:
        raise ValueError(f"this process's rows of the batch are not contiguous: {spans}")
    return slice(start, stop)


def shard_batch(local: np.ndarray, sharding: NamedSharding, batch_size: int) -> jax.Array:
    """The global batch [B, ...] from this process's rows `local` [b, ...] (`process_rows`)."""
    return jax.make_array_from_process_local_data(sharding, local, (batch_size, *local.shape[1:]))
