"""Batch-parallel work on this process's devices: the one batch-map helper, and jitted generation.

Shapes follow ldx/shapes.py.

`batch_map` runs a function over fixed-size chunks of a set (sampling, evaluation, the
dependency report and LDIDP's evaluation all use it): every chunk has the same size, so a
jitted function compiles once, and each chunk is placed split along a 1-D `data` mesh over the
local devices, so the compiler partitions the work. `make_generate_fn` jits a family's
`generate(model, key, num)` over flat parameters with the series split the same way.
Training's mesh spans every process; see ldx/train/parallel.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ldx.progress import phase


def data_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh with axis `data` over `devices` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else devices
    return jax.make_mesh(
        (len(devices),), ("data",), devices=devices, axis_types=(jax.sharding.AxisType.Auto,)
    )


def shardings(mesh: jax.sharding.Mesh) -> tuple[NamedSharding, NamedSharding]:
    """(replicated, batch-sharded along its leading axis)."""
    return NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))


def chunk_size(num: int, batch_size: int, num_devices: int = 1) -> int:
    """The size of every chunk of `batch_map`: min(batch_size, num) rounded up to a multiple of
    the device count."""
    size = max(min(batch_size, num), 1)
    return -(-size // num_devices) * num_devices


def batch_map(
    fn: Callable,
    *arrays: np.ndarray,
    num: int | None = None,
    batch_size: int,
    mesh: jax.sharding.Mesh | None = None,
    progress: str | None = None,
):
    """fn over fixed-size chunks of a set; the per-row outputs concatenated (NumPy).

    Args:
      fn: fn(index, size, *chunks) -> a pytree of arrays with `size` leading rows, row i from
        row i of the chunks. `index` is the chunk's number (0, 1, ...; fold it into a key,
        `jax.random.fold_in(key, index)`), `size` every chunk's row count (`chunk_size`);
        chunks are [size, ...], split along the mesh's `data` axis. The last chunk is padded
        by repeating its final row and the padding is cut from its outputs, so a jitted fn
        compiles once. With no arrays, fn makes `size` rows itself (e.g. draws that many).
      *arrays: the set, each [N, ...] with the same N.
      num: N when no arrays are given.
      batch_size: rows per chunk at most (before rounding up to the device count).
      mesh: a 1-D `data` mesh; default this process's local devices.
      progress: what the work is, to show it as a phase counted in chunks (`ldx.progress`).

    Returns:
      the outputs of fn for all N rows, each [N, ...].
    """
    if arrays:
        sizes = {len(a) for a in arrays}
        if len(sizes) != 1:
            raise ValueError(f"batch_map: the arrays have different leading sizes {sizes}.")
        (num,) = sizes
    if num is None:
        raise ValueError("batch_map: pass arrays or num.")
    mesh = data_mesh(jax.local_devices()) if mesh is None else mesh
    batched = shardings(mesh)[1]
    size = chunk_size(num, batch_size, mesh.shape["data"])
    outs = []
    starts = range(0, num, size)
    with phase(progress or "", len(starts), "batch", show=progress is not None) as bar:
        for index, start in enumerate(starts):
            keep = min(size, num - start)
            chunks = [
                jax.device_put(_pad(np.asarray(a[start : start + size]), size), batched)
                for a in arrays
            ]
            out = jax.device_get(fn(index, size, *chunks))
            outs.append(jax.tree.map(lambda x: np.asarray(x)[:keep], out))
            bar.update()
    return jax.tree.map(lambda *xs: np.concatenate(xs), *outs)


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    """x [n, ...] -> [size, ...] by repeating its last row."""
    if len(x) == size:
        return x
    return np.concatenate([x, np.repeat(x[-1:], size - len(x), axis=0)])


def make_generate_fn(
    model_fn: Callable[[jax.Array], nnx.Module],
    generate_fn: Callable,
    mesh: jax.sharding.Mesh | None = None,
) -> Callable[[jax.Array, jax.Array, int], jax.Array]:
    """Jits generate_fn(model, key, num) as (flat params [P], key, num) -> [num, T, D].

    Data-parallel: the series are split over the devices of `mesh` (default: this process's
    local devices), parameters replicated. `num` is rounded up to a multiple of the device
    count and the extra series dropped. One compile per rounded `num`. Any pytree output
    (e.g. latents and series) is split the same way.
    """
    mesh = data_mesh(jax.local_devices()) if mesh is None else mesh
    replicated, batched = shardings(mesh)
    n = mesh.shape["data"]

    def fn(params, key, num):
        return generate_fn(model_fn(params), key, num)

    jitted = jax.jit(
        fn, static_argnums=2, in_shardings=(replicated, replicated), out_shardings=batched
    )

    def call(params, key, num):
        padded = -(-num // n) * n
        params, key = jax.device_put((params, key), replicated)
        out = jitted(params, key, padded)
        return out if padded == num else jax.tree.map(lambda x: x[:num], out)

    return call


def draw(generate_fn, params, key, num: int, batch_size: int):
    """`num` series from a `make_generate_fn` function, in chunks of batch_size.

    Chunk c uses fold_in(key, c); every chunk is drawn at full size (the last one cut), so
    generation compiles once. Returns NumPy [num, T, D] (or the pytree generate_fn returns).
    """
    return batch_map(
        lambda c, size: generate_fn(params, jax.random.fold_in(key, c), size),
        num=num,
        batch_size=batch_size,
        progress=f"drawing {num} series",
    )
