"""``data=npz``: arrays from a NumPy ``.npz`` file (or a folder of ``.npy`` files).

``np.load(path, mmap_mode="r")`` ignores ``mmap_mode`` for an ``.npz``: a zip member is read
into memory. Members written by ``np.savez`` are stored uncompressed, though, so this plugin
finds where each member's array data starts inside the zip and memory-maps it there with
``np.memmap``. The splitter then reads every row once, in file order, straight into its split,
so a large file is never held in memory twice. ``np.savez_compressed`` members cannot be mapped
and are read into memory once; a folder with ``x.npy`` and ``y.npy`` is mapped with ``np.load``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from automl.core.errors import DataError
from automl.core.plugin import DataPlugin
from automl.data.files import check_choice, encode_target, resolve_path
from automl.data.types import DataConfig, RawData

if TYPE_CHECKING:
    from zipfile import ZipInfo

__all__ = ["NpzConfig", "NPZ", "load_npz", "open_arrays", "auto_layout", "LAYOUTS"]

LAYOUTS = ("auto", "flat", "sequence", "signal", "image")
_ZIP_LOCAL_HEADER = b"PK\x03\x04"


@dataclass
class NpzConfig(DataConfig):
    """Arrays saved with ``np.savez(path, x=..., y=...)``.

    The file holds ``x`` and ``y`` (or ``x_train`` and ``y_train``), and optionally
    ``x_test`` and ``y_test``, which are then used as the test split.

    Attributes:
        path: The ``.npz`` file, or a folder with ``x.npy`` and ``y.npy`` (and optionally
            ``x_test.npy`` and ``y_test.npy``).
        task: ``auto`` (text or few distinct integer labels: classification, else
            regression), ``classification`` or ``regression``.
        layout: How to read one sample: ``flat`` flattens it; ``sequence`` makes ``L`` into
            ``L x 1`` (``L x F`` stays); ``signal`` makes ``L`` into ``1 x L`` (``C x L``
            stays); ``image`` makes ``H x W`` into ``1 x H x W`` and ``H x W x C`` into
            ``C x H x W``. ``auto`` decides only what the shape says (``auto_layout``): vectors
            stay vectors, 3-D samples are images, and a 2-D sample is an error asking which
            of image, sequence or signal it is.
        mmap: Memory-map uncompressed arrays rather than reading them into memory.
    """

    path: str = ""
    task: str = "auto"
    layout: str = "auto"
    mmap: bool = True


def _map_member(path: Path, info: ZipInfo) -> np.ndarray | None:
    """Memory-map an uncompressed ``.npy`` member of a zip; ``None`` if it cannot be mapped."""
    from numpy.lib import format as npformat

    with open(path, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
        if len(head) < 30 or head[:4] != _ZIP_LOCAL_HEADER:
            return None
        # The local header's name and extra lengths can differ from the central directory's.
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = npformat.read_magic(f)
        readers = {
            (1, 0): npformat.read_array_header_1_0,
            (2, 0): npformat.read_array_header_2_0,
        }
        if version not in readers:
            return None
        shape, fortran, dtype = readers[version](f)
        offset = f.tell()
    if dtype.hasobject:
        return None  # np.load reports it below, with allow_pickle=False
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes == 0 or offset + nbytes > path.stat().st_size:
        return None
    order: Literal["C", "F"] = "F" if fortran else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)


def open_arrays(path: Path, mmap: bool) -> tuple[list[str], Any]:
    """The array names in ``path`` and a function that opens one by name.

    Args:
        path: An ``.npz`` file or a folder of ``.npy`` files.
        mmap: Memory-map where the storage allows it.

    Returns:
        ``(names, open_one)``; ``open_one(name)`` returns a (possibly memory-mapped) array.
    """
    import zipfile

    where = str(path)
    if path.is_dir():
        files = {p.stem: p for p in sorted(path.glob("*.npy"))}

        def open_npy(name: str) -> np.ndarray:
            try:
                return np.load(files[name], mmap_mode="r" if mmap else None, allow_pickle=False)
            except ValueError as exc:
                raise DataError(f"{files[name]}: cannot read the array ({exc})") from None

        return sorted(files), open_npy
    if path.suffix == ".npy":
        raise DataError(
            f"{where} holds a single array; save x and y together with "
            "np.savez(path, x=x, y=y), or put x.npy and y.npy in a folder and give the folder"
        )
    try:
        with zipfile.ZipFile(path) as zf:
            members = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"{where} is not an .npz file ({exc}); save the arrays with np.savez(path, x=x, y=y)"
        ) from None

    def open_member(name: str) -> np.ndarray:
        info = members[name]
        if mmap and info.compress_type == zipfile.ZIP_STORED:
            mapped = _map_member(path, info)
            if mapped is not None:
                return mapped
        try:
            with np.load(path, allow_pickle=False) as npz:
                return npz[name]
        except ValueError as exc:
            raise DataError(
                f"{where}: array '{name}' cannot be read ({exc}); save plain numeric arrays"
            ) from None

    return sorted(members), open_member


_CHANNELS = (1, 3, 4)  # grey, RGB, RGBA


def auto_layout(stored: tuple[int, ...], where: str) -> str | None:
    """What ``data.layout=auto`` reads samples of shape ``stored`` as (``None``: as stored).

    Only what the shape alone settles is decided; models read a 2-D sample differently (the
    cnn as ``C x L`` channels, the rnn as ``L x F`` steps), so guessing there would silently
    train, say, an 8 x 8 image as a Conv1d over 8 channels:

    - 1-D (``F``): a vector, as stored.
    - 2-D (``H x W``, ``L x F`` or ``C x L``): ambiguous, a ``DataError`` naming the choices.
    - 3-D: an image. ``C x H x W`` as stored when the first axis is 1, 3 or 4 (grey, RGB,
      RGBA) and the last is not; ``H x W x C`` (moved to ``C x H x W``) when only the last
      is; as stored (``C x H x W``, any ``C``) when neither is; an error when both are.
    - 4-D and more: as stored.

    Raises:
        DataError: For the ambiguous shapes, saying which ``data.layout`` to set.
    """
    if len(stored) == 2:
        raise DataError(
            f"{where}: data.layout=auto cannot tell what samples of shape {stored} are: a "
            f"{stored[0]} x {stored[1]} image (data.layout=image), {stored[0]} steps of "
            f"{stored[1]} features (data.layout=sequence) or {stored[0]} channels of "
            f"{stored[1]} samples (data.layout=signal); set one (or data.layout=flat)"
        )
    if len(stored) == 3:
        first, last = stored[0] in _CHANNELS, stored[2] in _CHANNELS
        if first and last:
            raise DataError(
                f"{where}: data.layout=auto cannot tell whether samples of shape {stored} are "
                "C x H x W or H x W x C; save them as C x H x W (np.moveaxis(x, -1, 1) moves "
                "the channels first) and set data.layout=image"
            )
        return "image" if last else None
    return None


def _layout(x: np.ndarray, layout: str, where: str) -> tuple[np.ndarray, dict[str, Any] | None]:
    """``x`` in the per-sample shape ``layout`` asks for (a view) and the step that did it."""
    stored = tuple(int(d) for d in x.shape[1:])
    if layout == "auto":
        layout = auto_layout(stored, where) or "auto"
    transpose = None
    shape = stored
    if layout == "flat":
        shape = (int(np.prod(stored, dtype=np.int64)),)
    elif layout == "sequence" and len(stored) in (1, 2):
        shape = stored if len(stored) == 2 else (stored[0], 1)
    elif layout == "signal" and len(stored) in (1, 2):
        shape = stored if len(stored) == 2 else (1, stored[0])
    elif layout == "image" and len(stored) == 2:
        shape = (1, *stored)
    elif layout == "image" and len(stored) == 3 and stored[0] in (1, 3, 4):
        shape = stored
    elif layout == "image" and len(stored) == 3 and stored[2] in (1, 3, 4):
        transpose = [2, 0, 1]
        shape = (stored[2], stored[0], stored[1])
    elif layout != "auto":
        raise DataError(
            f"{where}: samples of shape {stored} cannot be read as data.layout={layout} "
            "(sequence/signal: L or L x F; image: H x W, C x H x W or H x W x C with C 1, 3 or "
            "4); use data.layout=auto or flat"
        )
    if shape == stored:
        return x, None
    view = x.transpose(0, *(1 + a for a in transpose)) if transpose else x
    view = view.reshape(len(x), *shape) if not transpose else view
    step = {"kind": "layout", "stored": list(stored), "shape": list(shape), "transpose": transpose}
    return view, step


def load_npz(cfg: NpzConfig) -> RawData:
    """Open the arrays (memory-mapped where possible) and describe them.

    Raises:
        DataError: Missing file or arrays, mismatched lengths, non-numeric inputs, or a
            layout the samples do not fit.
    """
    check_choice("layout", cfg.layout, LAYOUTS)
    path = resolve_path(cfg.path, "my_arrays.npz")
    where = str(path)
    names, open_one = open_arrays(path, cfg.mmap)
    x_name = next((n for n in ("x", "x_train") if n in names), None)
    y_name = next((n for n in ("y", "y_train") if n in names), None)
    if x_name is None or y_name is None:
        raise DataError(
            f"{where} has arrays [{', '.join(names) or 'none'}] but needs 'x' and 'y' (or "
            "'x_train' and 'y_train', optionally 'x_test' and 'y_test'); save them with "
            "np.savez(path, x=x, y=y)"
        )
    has_test = ("x_test" in names, "y_test" in names)
    if has_test[0] != has_test[1]:
        raise DataError(
            f"{where} has {'x_test' if has_test[0] else 'y_test'} without "
            f"{'y_test' if has_test[0] else 'x_test'}; save both or neither"
        )
    x, y = open_one(x_name), np.asarray(open_one(y_name))
    if x.ndim == 0 or len(x) != len(y):
        raise DataError(
            f"{where}: {x_name} has {len(x) if x.ndim else 0} samples but {y_name} has {len(y)}; "
            "they must have the same length (first axis)"
        )
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}: {x_name} has dtype {x.dtype}; save numbers (float or int)")
    x = x.reshape(len(x), 1) if x.ndim == 1 else x
    x_test = y_test = None
    if has_test[0]:
        x_test, y_test = open_one("x_test"), np.asarray(open_one("y_test"))
        if len(x_test) != len(y_test):
            raise DataError(
                f"{where}: x_test has {len(x_test)} samples but y_test has {len(y_test)}; "
                "they must have the same length"
            )
        if x_test.shape[1:] != x.shape[1:] and not (x.shape[1:] == (1,) and x_test.ndim == 1):
            raise DataError(
                f"{where}: x_test samples have shape {x_test.shape[1:]} but {x_name} samples "
                f"{x.shape[1:]}; save both with the same per-sample shape"
            )
        x_test = x_test.reshape(len(x_test), 1) if x_test.ndim == 1 else x_test
    task, y_codes, y_test_codes, class_names = encode_target(y, y_test, cfg.task, where)
    x, step = _layout(x, cfg.layout, where)
    if x_test is not None:
        x_test, _ = _layout(x_test, cfg.layout, where)
    return RawData(
        x=x,
        y=y_codes,
        task=task,
        class_names=class_names,
        x_test=x_test,
        y_test=y_test_codes,
        source=where,
        input_step=step,
        # auto: rank 1 is flat and rank 3 an image (automl.data.split.sample_layout); rank 2
        # never gets here (auto_layout asks which it is).
        layout=None if cfg.layout == "auto" else cfg.layout,
    )


NPZ = DataPlugin(
    name="npz",
    config=NpzConfig,
    load="automl.data.npz:load_npz",
    description="Your arrays: .npz with x, y (+ x_test, y_test); memory-mapped",
)
