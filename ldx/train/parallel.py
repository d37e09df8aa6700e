"""Data parallelism on JAX's own runtime: a 1-D `data` mesh, batch sharded, state replicated.

Shape legend: B global batch, b this process's rows of it.

Training spans every device of every process (`data_mesh()`); each process feeds the rows of
the global batch that its devices hold (`process_rows`, `shard_batch`). Batch-parallel work
that one process does alone (sampling, evaluation, the dependency estimator) runs over its
local devices with `data_parallel`.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Sequence

import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

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


def data_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh with axis `data` over `devices` (default: all devices of all processes)."""
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


def data_parallel(
    fn: Callable,
    mesh: jax.sharding.Mesh | None = None,
    *,
    batch_argnums: Sequence[int] = (0,),
    static_argnums: Sequence[int] = (),
    per_example: bool = True,
) -> Callable:
    """Jits `fn` to run data-parallel: batch arguments split along axis 0 over the mesh.

    Arguments in `batch_argnums` (arrays or pytrees of arrays, leading axis B) are sharded over
    the `data` axis, the others (parameters, keys) replicated. The compiler partitions the
    computation; results equal those of `jax.jit(fn)` up to float reassociation.

    Args:
      fn: the function to run.
      mesh: a 1-D `data` mesh; default: this process's local devices (`data_mesh`).
      batch_argnums: positions of the batched arguments.
      static_argnums: positions of hashable, static arguments.
      per_example: True if every output is per example (row i of each output depends on row i
        of the batch only): outputs stay sharded along axis 0 and any B works (rows are padded
        by repeating the last one, and the padding is cut off the outputs). False for
        functions that reduce over the batch: B must be divisible by the device count.

    Returns:
      a function with the signature of `fn`.
    """
    mesh = data_mesh(jax.local_devices()) if mesh is None else mesh
    replicated, batched = shardings(mesh)
    n = mesh.shape["data"]
    static = tuple(static_argnums)

    @functools.lru_cache(maxsize=None)
    def compiled(num_args: int):
        in_shardings = tuple(
            batched if i in batch_argnums else replicated
            for i in range(num_args)
            if i not in static
        )
        return jax.jit(
            fn,
            static_argnums=static,
            in_shardings=in_shardings,
            out_shardings=batched if per_example else None,
        )

    def call(*args):
        sizes = {len(x) for i in batch_argnums for x in jax.tree.leaves(args[i])}
        if len(sizes) != 1:
            raise ValueError(f"batch arguments {tuple(batch_argnums)} have leading sizes {sizes}")
        (size,) = sizes
        padded = -(-size // n) * n
        if padded != size and not per_example:
            raise ConfigError(
                f"a batch of {size} is not divisible by the number of devices ({n}); "
                f"use a multiple of {n}."
            )
        args = list(args)
        for i in range(len(args)):
            if i in static:
                continue
            if i in batch_argnums:
                args[i] = jax.device_put(jax.tree.map(lambda x: _pad(x, padded), args[i]), batched)
            else:
                args[i] = jax.device_put(args[i], replicated)
        out = compiled(len(args))(*args)
        return out if padded == size else jax.tree.map(lambda x: x[:size], out)

    return call


def _pad(x, size: int):
    """x [B, ...] -> [size, ...] by repeating its last row."""
    if len(x) == size:
        return x
    x = np.asarray(x)
    return np.concatenate([x, np.repeat(x[-1:], size - len(x), axis=0)])
