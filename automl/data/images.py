"""``data=images``: a folder with one sub-folder of images per class.

::

    DIR/cat/001.png  DIR/cat/002.jpg  DIR/dog/003.jpeg ...

or, with a given test split, ``DIR/train/<class>/...`` and ``DIR/test/<class>/...``. Images are
decoded with Pillow (imported only when data is loaded), resized to ``size x size`` and stored
as ``uint8`` ``C x H x W`` arrays. Augmentation (random crop after zero padding, horizontal flip)
is applied by the trainer to training batches only; validation and test images are never
augmented.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl.core.errors import DataError
from automl.core.plugin import DataPlugin
from automl.data.types import DataConfig, RawData

__all__ = ["ImagesConfig", "IMAGES", "load_images", "read_images", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
LAYOUT_HINT = "one sub-folder per class with images in it (DIR/cat/1.png, DIR/dog/2.png)"


@dataclass
class ImagesConfig(DataConfig):
    """An image folder, one sub-folder per class.

    Attributes:
        path: The folder. If it holds exactly ``train`` and ``test`` sub-folders (each with
            class sub-folders), ``test`` is the test split.
        size: Images are resized to ``size x size`` pixels (aspect ratio not kept).
        channels: ``1`` grey, ``3`` RGB, ``0`` auto (grey when every image is grey).
        augment: Augment training batches (never validation or test).
        crop_padding: Augmentation: pad by this many pixels, then crop back at a random offset
            (0 disables it).
        flip: Augmentation: flip half of the images left-right.
    """

    path: str = ""
    size: int = 32
    channels: int = 0
    augment: bool = False
    crop_padding: int = 4
    flip: bool = True


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _scan(root: Path) -> list[tuple[str, list[Path]]]:
    """``(class name, image files)`` per class sub-folder of ``root``."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        loose = len(_images_in(root))
        found = f"has {loose} images but no sub-folders" if loose else "has no sub-folders"
        raise DataError(f"folder {root} {found}; data=images needs {LAYOUT_HINT}")
    classes = []
    for d in subdirs:
        files = _images_in(d)
        if not files:
            raise DataError(
                f"class folder {d} has no images ({', '.join(IMAGE_SUFFIXES)}); add images "
                "or remove the folder"
            )
        classes.append((d.name, files))
    return classes


def _open_error(path: Path, exc: Exception) -> DataError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return DataError(f"cannot read image {path} ({reason}); remove or replace the file")


def _modes(files: list[Path]) -> set[str]:
    """Pixel modes from the image headers (nothing decoded yet)."""
    from PIL import Image, UnidentifiedImageError

    modes = set()
    for f in files:
        try:
            with Image.open(f) as im:
                modes.add(im.mode)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
            raise _open_error(f, e) from None
    return modes


def read_images(paths: Sequence[str | Path], size: int, channels: int) -> np.ndarray:
    """Decode and resize images into a ``uint8`` array ``(N, channels, size, size)``.

    This is exactly what training saw before standardization; ``Predictor.predict`` calls it
    when given file paths.

    Raises:
        DataError: Naming the first file Pillow cannot read.
    """
    from PIL import Image, UnidentifiedImageError

    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(paths), channels, size, size), dtype=np.uint8)
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                im = im.convert(mode).resize((size, size), Image.Resampling.BILINEAR)
                pixels = np.asarray(im, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
            raise _open_error(Path(p), e) from None
        out[i] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
    return out


def read_images_if_paths(x: Any, step: dict[str, Any]) -> Any:
    """The ``image`` preprocessing step: file paths are read; arrays pass through."""
    if isinstance(x, (str, Path)):
        x = [x]
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], (str, Path)):
        return read_images(list(x), int(step["size"]), int(step["channels"]))
    return x


def load_images(cfg: ImagesConfig) -> RawData:
    """Scan the folder, decode every image once and describe the classes.

    Raises:
        DataError: Missing or empty folder, an empty class folder, an unreadable image
            (named), or invalid options.
    """
    from automl.data.files import resolve_path

    if cfg.channels not in (0, 1, 3):
        raise DataError(f"data.channels={cfg.channels} is not one of 0 (auto), 1 (grey), 3 (RGB)")
    if cfg.size < 1 or cfg.crop_padding < 0:
        raise DataError("data.size must be >= 1 and data.crop_padding >= 0")
    root = resolve_path(cfg.path, "my_images/")
    if not root.is_dir():
        raise DataError(
            f"data.path={cfg.path} is a file; data=images needs a folder with {LAYOUT_HINT}"
        )
    subdirs = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    test_given = subdirs == {"train", "test"}
    train = _scan(root / "train" if test_given else root)
    test = _scan(root / "test") if test_given else []
    names = [c for c, _ in train]
    unseen = [c for c, _ in test if c not in names]
    if unseen:
        raise DataError(
            f"{root / 'test'} has class folder(s) {', '.join(unseen)} that {root / 'train'} "
            "lacks; the test classes must be training classes"
        )
    files = [f for _, fs in train for f in fs]
    labels = np.asarray([k for k, (_, fs) in enumerate(train) for _ in fs], dtype=np.int64)
    test_files = [f for _, fs in test for f in fs]
    test_labels = np.asarray([names.index(c) for c, fs in test for _ in fs], dtype=np.int64)
    channels = cfg.channels
    if channels == 0:
        channels = 1 if _modes(files + test_files) <= _GREY_MODES else 3
    x = read_images(files, cfg.size, channels)
    augment: dict[str, Any] = {}
    if cfg.augment:
        augment = {"flip": bool(cfg.flip), "crop_padding": int(cfg.crop_padding)}
    return RawData(
        x=x,
        y=labels,
        task="classification",
        class_names=tuple(names),
        x_test=read_images(test_files, cfg.size, channels) if test_given else None,
        y_test=test_labels if test_given else None,
        source=str(root),
        input_step={"kind": "image", "size": int(cfg.size), "channels": channels},
        augment=augment,
    )


IMAGES = DataPlugin(
    name="images",
    config=ImagesConfig,
    load="automl.data.images:load_images",
    description="Your images: one sub-folder per class (PNG/JPEG), resized",
)
