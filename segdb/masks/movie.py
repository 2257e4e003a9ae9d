"""Opening a motion-corrected movie as a lazily sliced (frames, height, width) array."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from segdb.errors import InvalidInputError

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
TIFF_SUFFIXES = (".tif", ".tiff")


@contextlib.contextmanager
def open_movie(movie: Any, *, dataset: str | None = None) -> Iterator[Any]:
    """Yield a (frames, height, width) array-like for a movie given as a path or an array.

    Paths: HDF5 (``dataset`` names the movie; without it the file's only 3-D dataset),
    ``.npy`` (memory-mapped) and TIFF (memory-mapped when tifffile can, which needs
    ``pip install tifffile``). Arrays, memmaps and h5py datasets are used as they are.
    Nothing is read until the caller slices.
    """
    if not isinstance(movie, (str, os.PathLike)):
        yield _checked(movie, "the movie")
        return
    path = Path(movie)
    if not path.is_file():
        raise InvalidInputError(f"movie file {str(path)!r} does not exist; check the path")
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        import h5py

        with h5py.File(path, "r") as handle:
            yield _checked(_hdf5_dataset(handle, path, dataset), str(path))
    elif suffix == ".npy":
        yield _checked(np.load(path, mmap_mode="r"), str(path))
    elif suffix in TIFF_SUFFIXES:
        yield _checked(_tiff(path), str(path))
    else:
        raise InvalidInputError(
            f"cannot read movie {str(path)!r}: segdb reads HDF5 ({', '.join(HDF5_SUFFIXES)}), .npy and TIFF "
            "movies, or an array you pass directly"
        )


def _hdf5_dataset(handle: Any, path: Path, dataset: str | None) -> Any:
    import h5py

    datasets: list[tuple[str, int]] = []
    handle.visititems(lambda name, obj: datasets.append((name, obj.ndim)) if isinstance(obj, h5py.Dataset) else None)
    if dataset is not None:
        found = handle.get(dataset)
        if not isinstance(found, h5py.Dataset):
            raise InvalidInputError(
                f"movie file {str(path)!r} has no dataset {dataset!r} (its datasets: {[n for n, _ in datasets][:10]}); "
                "pass dataset=<name> (--dataset) of the (frames, height, width) movie"
            )
        return found
    movies = [name for name, ndim in datasets if ndim == 3]
    if len(movies) != 1:
        raise InvalidInputError(
            f"movie file {str(path)!r} has {len(movies)} 3-D datasets ({movies[:5]}); pass dataset=<name> "
            "(--dataset) to say which is the movie"
        )
    return handle[movies[0]]


def _tiff(path: Path) -> Any:
    try:
        import tifffile
    except ModuleNotFoundError as exc:
        raise InvalidInputError(
            f"reading the TIFF movie {str(path)!r} needs tifffile: pip install tifffile (or segdb[tiff])"
        ) from exc
    try:
        return tifffile.memmap(path, mode="r")
    except ValueError:
        # Compressed or tiled TIFFs cannot be memory-mapped; read them whole.
        return tifffile.imread(path)


def _checked(movie: Any, what: str) -> Any:
    shape = getattr(movie, "shape", None)
    if shape is None or len(shape) != 3:
        raise InvalidInputError(
            f"{what} has shape {shape}; a movie is (frames, height, width)"
        )
    return movie
