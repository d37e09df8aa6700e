"""Data: raw sources (Sines, CSV, NPY, MAT, named datasets), windows, scaling and batches."""

from ldx.data.pipeline import (
    SPLITS,
    DataConfig,
    Dataset,
    MinMaxScaler,
    batch_indices,
    build_dataset,
    get_batch,
    make_windows,
    shuffle_time,
    split_indices,
)
from ldx.data.sources import (
    NAMES,
    DataError,
    data_dir_default,
    dataset_available,
    dataset_path,
    load_csv,
    load_mat,
    load_npy,
    load_source,
    sines,
)

__all__ = [
    "NAMES",
    "SPLITS",
    "DataConfig",
    "DataError",
    "Dataset",
    "MinMaxScaler",
    "batch_indices",
    "build_dataset",
    "data_dir_default",
    "dataset_available",
    "dataset_path",
    "get_batch",
    "load_csv",
    "load_mat",
    "load_npy",
    "load_source",
    "make_windows",
    "shuffle_time",
    "sines",
    "split_indices",
]
