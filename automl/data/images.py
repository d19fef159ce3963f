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
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.core.errors import DataError
from automl.core.plugin import DataPlugin
from automl.data.types import DataConfig, RawData

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "ImagesConfig",
    "IMAGES",
    "load_images",
    "read_images",
    "decode_images",
    "ImageReadError",
    "IMAGE_SUFFIXES",
    "MAX_DECODED_PIXELS",
]

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


MAX_DECODED_PIXELS = 2**25
"""Largest image (width x height) decoded from bytes a client sent (a 5792 x 5792 photo);
Pillow's own bomb guard only refuses at about 179 million pixels."""


class ImageReadError(DataError):
    """A sent image that cannot be decoded: ``index`` is its position in the batch and
    ``problem`` what is wrong with it (a sentence that follows the image's name)."""

    def __init__(self, problem: str, index: int) -> None:
        super().__init__(f"image {index} {problem}")
        self.index, self.problem = index, problem


def _mode(channels: int) -> str:
    return "L" if channels == 1 else "RGB"


def _pixels(im: PILImage, size: int, channels: int) -> np.ndarray:
    """The one transform every image goes through: Pillow converts it to grey or RGB and
    resizes it to ``size x size`` (bilinear); ``C x H x W`` uint8 out."""
    from PIL import Image

    im = im.convert(_mode(channels)).resize((size, size), Image.Resampling.BILINEAR)
    pixels = np.asarray(im, dtype=np.uint8)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def read_images(paths: Sequence[str | Path], size: int, channels: int) -> np.ndarray:
    """Decode and resize images into a ``uint8`` array ``(N, channels, size, size)``.

    This is exactly what training saw before standardization; ``Predictor.predict`` calls it
    when given file paths.

    Raises:
        DataError: Naming the first file Pillow cannot read.
    """
    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(paths), channels, size, size), dtype=np.uint8)
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                out[i] = _pixels(im, size, channels)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
            raise _open_error(Path(p), e) from None
    return out


def decode_images(items: Sequence[Any], size: int, channels: int) -> np.ndarray:
    """Images a client sent, as training saw them: ``uint8 (N, channels, size, size)``.

    Args:
        items: Per image: encoded file bytes (PNG, JPEG, ...), or a ``uint8`` array of
            pixels as Pillow decodes a file (``H x W`` grey, ``H x W x 3`` RGB, ``H x W x 4``
            RGBA) at any size.
        size: The trained side length.
        channels: The trained channel count (1 or 3).

    Raises:
        ImageReadError: An item that is no image Pillow can read, or larger than
            ``MAX_DECODED_PIXELS`` (its index named).
    """
    import io

    from PIL import Image, UnidentifiedImageError

    out = np.empty((len(items), channels, size, size), dtype=np.uint8)
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            out[i] = _pixels(Image.fromarray(item), size, channels)
            continue
        try:
            with Image.open(io.BytesIO(bytes(item))) as im:
                width, height = im.size
                if width * height > MAX_DECODED_PIXELS:
                    raise ImageReadError(
                        f"is {width} x {height} pixels, more than the "
                        f"{MAX_DECODED_PIXELS} this server decodes; resize it to about "
                        f"{size} x {size} first",
                        i,
                    )
                out[i] = _pixels(im, size, channels)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ImageReadError(
                f"is not an image file Pillow can read ({reason}); send the bytes "
                "of a PNG or JPEG file",
                i,
            ) from None
    return out


def read_images_if_paths(x: object, step: dict[str, Any]) -> Any:
    """The ``image`` preprocessing step: file paths are read, sent images (bytes, or pixel
    arrays in Pillow's layout) decoded, converted and resized; a pixel array already in the
    trained ``N x C x H x W`` shape passes through."""
    if isinstance(x, (str, Path)):
        x = [x]
    if isinstance(x, (list, tuple)) and x:
        size, channels = int(step["size"]), int(step["channels"])
        if isinstance(x[0], (str, Path)):
            return read_images(list(x), size, channels)
        if isinstance(x[0], (bytes, bytearray, np.ndarray)):
            return decode_images(list(x), size, channels)
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
