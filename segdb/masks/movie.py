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
#: suite2p's registered movie: raw int16 frames, (nframes, Ly, Lx) in C order, sized by the ops.npy beside it.
SUITE2P_BINARY_SUFFIX = ".bin"


@contextlib.contextmanager
def open_movie(movie: Any, *, dataset: str | None = None) -> Iterator[Any]:
    """Yield a (frames, height, width) array-like for a movie given as a path or an array.

    Paths: HDF5 (``dataset`` names the movie; without it the file's only 3-D dataset),
    ``.npy`` (memory-mapped), suite2p's registered ``data.bin`` (memory-mapped, sized by
    the ``ops.npy`` beside it) and TIFF (memory-mapped when tifffile can, which needs
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
    elif suffix == SUITE2P_BINARY_SUFFIX:
        yield _suite2p_binary(path)
    else:
        raise InvalidInputError(
            f"cannot read movie {str(path)!r}: segdb reads HDF5 ({', '.join(HDF5_SUFFIXES)}), .npy, suite2p's "
            "data.bin and TIFF movies, or an array you pass directly"
        )


def suite2p_ops(path: str | os.PathLike) -> dict[str, Any]:
    """The settings dictionary a suite2p ops.npy holds, or an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"suite2p's {path.name} is not at {str(path)!r}; give the plane folder's ops.npy")
    try:
        ops = np.load(path, allow_pickle=True)
        ops = ops.item() if isinstance(ops, np.ndarray) and ops.dtype == object and ops.shape == () else ops
    except (ValueError, EOFError, OSError, ModuleNotFoundError, AttributeError) as error:
        raise InvalidInputError(f"{str(path)!r} is not a readable suite2p ops.npy ({error})") from None
    if not isinstance(ops, dict):
        raise InvalidInputError(f"{str(path)!r} holds {type(ops).__name__}, not suite2p's ops dictionary")
    return ops


def _ops_beside(movie: Path) -> tuple[Path, dict[str, Any]]:
    ops_path = movie.with_name("ops.npy")
    if not ops_path.is_file():
        raise InvalidInputError(
            f"suite2p's movie {str(movie)!r} has no ops.npy beside it; its size (Ly, Lx, nframes) is read from "
            "there: keep the plane folder as suite2p wrote it"
        )
    return ops_path, suite2p_ops(ops_path)


def _ops_integers(ops: dict[str, Any], ops_path: Path, keys: tuple[str, ...]) -> list[int]:
    values = []
    for key in keys:
        try:
            values.append(int(ops[key]))
        except (KeyError, TypeError, ValueError):
            raise InvalidInputError(
                f"{str(ops_path)!r} has no number {key!r}; suite2p writes Ly, Lx and nframes"
            ) from None
    return values


def _suite2p_binary(path: Path) -> np.memmap:
    ops_path, ops = _ops_beside(path)
    height, width, frames = _ops_integers(ops, ops_path, ("Ly", "Lx", "nframes"))
    expected = frames * height * width * np.dtype(np.int16).itemsize
    size = path.stat().st_size
    if size != expected or expected == 0:
        raise InvalidInputError(
            f"suite2p's movie {str(path)!r} is {size} bytes but its ops.npy says {frames} frames of {height} x "
            f"{width} int16 pixels ({expected} bytes); was the folder copied completely?"
        )
    return np.memmap(path, dtype=np.int16, mode="r", shape=(frames, height, width))


def motion_border_from_ops(ops_path: str | os.PathLike) -> tuple[float, float, float, float]:
    """The motion border ``[right_shift, left_shift, down_shift, up_shift]`` suite2p's registration left.

    suite2p keeps the rows ``yrange[0]:yrange[1]`` and columns ``xrange[0]:xrange[1]`` that every
    registered frame covers; the border is what lies outside them.
    """
    ops_path = Path(ops_path)
    ops = suite2p_ops(ops_path)
    height, width = _ops_integers(ops, ops_path, ("Ly", "Lx"))
    try:
        (x0, x1), (y0, y1) = [[int(v) for v in np.asarray(ops[key]).ravel()] for key in ("xrange", "yrange")]
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError(
            f"{str(ops_path)!r} has no xrange/yrange pair (suite2p writes them after registration); "
            "give the border with --border RIGHT LEFT DOWN UP instead"
        ) from None
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise InvalidInputError(
            f"{str(ops_path)!r} has xrange {[x0, x1]} and yrange {[y0, y1]}, outside its {width} x {height} frame"
        )
    return float(x0), float(width - x1), float(y0), float(height - y1)


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
