"""Image loaders shared by every vertical that reads pictures.

* a class-per-subfolder folder of PNG/JPEG/BMP files, resized to one size;
* an ``.npz`` archive with ``x`` and ``y`` arrays;
* an HDF5 file with ``x`` and ``y`` datasets.

Resizing happens here, outside the model, with Pillow's bilinear filter; the
size and colour mode are recorded in the input spec so a downstream app does
the same.  Pixel values stay raw (0-255 for files): rescaling is a layer
inside the exported model.  :data:`IMAGE` reads new images the same way for
``predict`` and ``evaluate``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import DataError
from .arrays import image_arrays
from .dataset import LabeledData
from .input_kind import InputKind, RawInputs
from .loader import DataLoader, LoaderOption
from .options import check_options

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
MAX_DEFAULT_SIDE = 64
FOLDER_OPTIONS = ("image_size", "color_mode")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def is_image_folder(path: Path) -> bool:
    return path.is_dir()


def _parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        sizes = [int(p) for p in parts if p.strip()]
    except ValueError:
        sizes = []
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2 or min(sizes) < 4:
        raise DataError(
            f"image_size '{text}' is not a size", "use image_size=32 or image_size=48x64 (height x width, at least 4)"
        )
    return sizes[0], sizes[1]


def _read_image(path: Path | BinaryIO, operation: Any) -> Any:
    """Open ``path`` (a file, or bytes in memory such as a server's upload) with Pillow and apply ``operation``;
    any failure names the file (an in-memory one by its ``name`` attribute, if it has one).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return operation(image)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as error:
        where = path if isinstance(path, (str, Path)) else getattr(path, "name", "in memory")
        raise DataError(
            f"cannot read image '{where}' ({error})",
            "delete or replace the file, it is not a valid PNG, JPEG or BMP image",
        ) from error


def read_resized(path: Path | BinaryIO, height: int, width: int, color_mode: str) -> np.ndarray:
    """One image as uint8 pixels, converted to ``color_mode`` and resized bilinearly (Pillow), as training and
    prediction both need.
    """
    from PIL import Image

    mode = "L" if color_mode == "grayscale" else "RGB"
    return _read_image(
        path,
        lambda image: np.asarray(
            image.convert(mode).resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8
        ),
    )


def _default_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The most common (height, width), scaled down so the longer side is at most 64."""
    height, width = Counter(sizes).most_common(1)[0][0]
    scale = min(1.0, MAX_DEFAULT_SIDE / max(height, width))
    return max(4, round(height * scale)), max(4, round(width * scale))


def load_image_folder(path: Path, options: Mapping[str, str], like: LabeledData | None = None) -> LabeledData:
    """Read ``path/<class>/<image>`` files into uint8 arrays of one size and colour mode.

    Options: ``image_size`` (``32`` or ``HxW``), ``color_mode`` (``grayscale`` or
    ``rgb``).  Defaults: the most common size (longer side capped at 64) and
    RGB if any image has colour, else grayscale.  With ``like`` (the training
    data) the same size and mode are used, so test images match.
    """
    check_options(options, FOLDER_OPTIONS, f"image folder {path}")
    if like is not None and "resize" not in like.input_spec:
        raise DataError(
            f"the test data '{path}' is an image folder but the training data ({like.source}) is not",
            "give --test-data in the same format as the training data",
        )
    folders = _class_folders(path)
    loose = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not folders:
        found = f"{len(loose)} loose image(s) and no" if loose else "no"
        raise DataError(
            f"the image folder '{path}' has {found} class sub-folders",
            f"put the images in one sub-folder per class, e.g. {path}/cat/1.png and {path}/dog/2.png",
        )
    files_by_class = {folder.name: _image_files(folder) for folder in folders}
    empty = [name for name, files in files_by_class.items() if not files]
    if len(empty) == len(files_by_class):
        raise DataError(
            f"the image folder '{path}' holds no PNG, JPEG or BMP images",
            f"put image files in its class sub-folders ({', '.join(sorted(empty)[:5])})",
        )
    if like is not None:  # a test set may lack some classes: only the training data must have them all
        files_by_class = {name: files for name, files in files_by_class.items() if files}
    elif empty:
        raise DataError(
            f"class folder(s) {', '.join(repr(n) for n in empty[:5])} in '{path}' hold no PNG, JPEG or BMP images",
            "add images to them or remove them",
        )
    elif len(files_by_class) < 2:
        only = next(iter(files_by_class))
        raise DataError(
            f"the image folder '{path}' has only one class ('{only}')",
            "add a sub-folder of images for each other class",
        )

    files = [(file, name) for name in files_by_class for file in files_by_class[name]]
    headers = [_read_image(file, lambda im: (im.height, im.width, im.mode)) for file, _ in files]

    if like is not None:
        height, width = like.input_spec["resize"]["height"], like.input_spec["resize"]["width"]
        color_mode = like.input_spec["color_mode"]
    else:
        size_option = options.get("image_size")
        height, width = _parse_size(size_option) if size_option else _default_size([(h, w) for h, w, _ in headers])
        color_mode = options.get("color_mode") or (
            "rgb" if any(mode not in GRAY_MODES for _, _, mode in headers) else "grayscale"
        )
        if color_mode not in ("grayscale", "rgb"):
            raise DataError(f"color_mode '{color_mode}' is not supported", "use color_mode=grayscale or color_mode=rgb")

    pil_mode = "L" if color_mode == "grayscale" else "RGB"
    pixels = np.stack([read_resized(file, height, width, color_mode) for file, _ in files])
    labels = np.array([name for _, name in files])
    data = image_arrays(pixels, labels, f"image folder {path}", value_range=(0.0, 255.0))
    data.input_spec["resize"] = {"height": height, "width": width, "method": "bilinear (Pillow)"}
    data.input_spec["color_mode"] = color_mode
    data.input_spec["files"] = "PNG, JPEG or BMP; converted with Pillow to mode " + pil_mode
    return data


def is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"


def load_npz_images(path: Path, options: Mapping[str, str], like: LabeledData | None = None) -> LabeledData:
    """Read an ``.npz`` archive holding ``x`` (images) and ``y`` (labels)."""
    check_options(options, (), f"npz file {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("x", "y") if key not in archive.files]
            if missing:
                raise DataError(
                    f"'{path}' has no array named {' or '.join(missing)} "
                    f"(it has: {', '.join(archive.files) or 'nothing'})",
                    "save the file with np.savez(path, x=images, y=labels)",
                )
            x, y = archive["x"], archive["y"]
    except (OSError, ValueError) as error:
        raise DataError(
            f"cannot read '{path}' as a NumPy .npz archive ({error})",
            "save the file with np.savez(path, x=images, y=labels)",
        ) from error
    return _matching(image_arrays(x, y, f"npz file {path}", _range_of(like)), like)


def is_hdf5(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (".h5", ".hdf5", ".he5")


def load_hdf5_images(path: Path, options: Mapping[str, str], like: LabeledData | None = None) -> LabeledData:
    """Read an HDF5 file with datasets ``x`` (images) and ``y`` (labels)."""
    import h5py

    check_options(options, (), f"HDF5 file {path}")
    try:
        with h5py.File(path, "r") as handle:
            missing = [key for key in ("x", "y") if key not in handle]
            if missing:
                raise DataError(
                    f"'{path}' has no dataset named {' or '.join(missing)} "
                    f"(it has: {', '.join(handle.keys()) or 'nothing'})",
                    "write datasets 'x' (images) and 'y' (labels) into the file",
                )
            x, y = handle["x"][()], handle["y"][()]
    except OSError as error:
        raise DataError(
            f"cannot read '{path}' as an HDF5 file ({error})", "check that the file is a complete HDF5 file"
        ) from error
    return _matching(image_arrays(x, y, f"HDF5 file {path}", _range_of(like)), like)


def _range_of(like: LabeledData | None) -> tuple[float, float] | None:
    return tuple(like.input_spec["value_range"]) if like is not None else None


def _matching(data: LabeledData, like: LabeledData | None) -> LabeledData:
    """Check that test arrays have the training images' shape."""
    if like is not None and data.x.shape[1:] != like.x.shape[1:]:
        raise DataError(
            f"images in {data.source} have shape {data.x.shape[1:]} but the training images have {like.x.shape[1:]}",
            "give the test data the same image size and channels as the training data",
        )
    return data


def image_usage_code(spec: dict[str, Any]) -> list[str]:
    """Lines that turn image files (or an array) into the model's input ``x``."""
    if "resize" in spec:
        mode = "L" if spec["color_mode"] == "grayscale" else "RGB"
        expand = "[..., None]" if spec["color_mode"] == "grayscale" else ""
        return [
            "from PIL import Image",
            'height, width = prep["input"]["resize"]["height"], prep["input"]["resize"]["width"]',
            f'images = [Image.open(p).convert("{mode}").resize((width, height), Image.Resampling.BILINEAR) '
            'for p in ["a.png", "b.jpg"]]',
            f'x = np.stack([np.asarray(im, dtype="float32") for im in images]){expand}  # raw 0-255 pixels',
        ]
    return [
        f'x = np.asarray(images, dtype="float32")  # shape (N, {", ".join(str(d) for d in spec["shape"])}), '
        f"raw values in {spec['value_range']}",
    ]


def image_folder_loader() -> DataLoader:
    """The loader of a folder with one sub-folder of PNG/JPEG/BMP images per class."""
    return DataLoader(
        "image-folder",
        "a folder with one sub-folder of PNG/JPEG/BMP images per class",
        is_image_folder,
        load_image_folder,
        options=(
            LoaderOption("image_size", "N or HxW: the size images are resized to (default: the most common, <= 64)"),
            LoaderOption("color_mode", "grayscale|rgb: the colour mode (default: rgb if any image has colour)"),
        ),
        kind=IMAGE,
    )


def npz_image_loader() -> DataLoader:
    """The loader of an ``.npz`` archive with arrays ``x`` (images) and ``y`` (labels)."""
    return DataLoader(
        "npz", "an .npz file with arrays x (N, H, W[, C]) and y (labels)", is_npz, load_npz_images, kind=IMAGE
    )


def hdf5_image_loader() -> DataLoader:
    """The loader of an HDF5 file with datasets ``x`` (images) and ``y`` (labels)."""
    return DataLoader(
        "hdf5",
        "an .h5/.hdf5 file with datasets x (N, H, W[, C]) and y (labels)",
        is_hdf5,
        load_hdf5_images,
        kind=IMAGE,
    )


def read_images(raw: Any, spec: dict[str, Any]) -> RawInputs:
    """Images to predict on: an image file, a folder of images (searched recursively), an ``.npz``/HDF5 file with
    ``x``, or an array shaped like the training images, in their value range.

    Files are converted and resized as in training; for a model trained on
    arrays, their 0-255 pixels are mapped onto the training value range.
    """
    height, width, channels = spec["shape"]
    if isinstance(raw, (str, Path)) and Path(raw).suffix.lower() in (".npz", ".h5", ".hdf5"):
        raw = _stored_images(Path(raw))
    if isinstance(raw, np.ndarray):
        x = raw[..., None] if raw.ndim == 3 and channels == 1 else raw
        if x.ndim != 4 or tuple(x.shape[1:]) != (height, width, channels):
            raise DataError(
                f"images of shape {tuple(raw.shape[1:])} do not match the model's {height}x{width}x{channels}",
                "resize them, or pass image files",
            )
        return RawInputs(x.astype(np.float32), [str(i) for i in range(len(x))])
    path = Path(raw)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise DataError(f"'{path}' does not exist", "give an image file or a folder of images")
    if not files:
        raise DataError(f"'{path}' holds no PNG, JPEG or BMP images", "give a folder with image files")
    return RawInputs(image_pixels(files, spec), [str(f) for f in files])


def image_pixels(sources: Sequence[Path | BinaryIO], spec: dict[str, Any]) -> np.ndarray:
    """Image files (or their bytes in memory, as a server receives them) as the model's float32 pixels.

    Each is converted and resized as in training; for a model trained on
    arrays, their 0-255 pixels are mapped onto the training value range.
    """
    height, width, channels = spec["shape"]
    color_mode = spec.get("color_mode") or ("grayscale" if channels == 1 else "rgb")
    pixels = (
        np.stack([read_resized(source, height, width, color_mode) for source in sources])
        .reshape(len(sources), height, width, channels)
        .astype(np.float32)
    )
    if "resize" not in spec:  # trained on arrays: map 0-255 onto their value range
        low, high = spec["value_range"]
        pixels = low + pixels / 255.0 * (high - low)
    return pixels


def _stored_images(path: Path) -> np.ndarray:
    """``x`` of an ``.npz`` or HDF5 file."""
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as stored:
                return np.asarray(stored["x"])
        import h5py

        with h5py.File(path, "r") as stored:
            return np.asarray(stored["x"])
    except (OSError, KeyError, ValueError) as error:
        raise DataError(
            f"cannot read images 'x' from '{path}' ({error})", "give an .npz or HDF5 file with an array named x"
        ) from error


IMAGE = InputKind(
    "image",
    "pictures as float32 pixels (height, width, channels), resized as in training",
    read=read_images,
    usage_code=image_usage_code,
    usage_requirements=("pillow",),
)
