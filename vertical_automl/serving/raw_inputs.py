"""What ``POST /v2/models/{name}/predict`` accepts, turned into what the run's preprocessing takes.

``vautoml predict`` reads files; a server must never.  The kinds' ``read``
functions treat a string as a path when one exists (``read_texts``,
``read_table_inputs``), so a request's strings are never handed over as
they are: tables go in as a list of records, texts as a list of strings,
images as pixels decoded here from bytes in memory (with the conversion and
resizing ``vautoml predict`` applies to an image file,
:func:`~vertical_automl.data.images.image_pixels`), and everything else as a
numpy array of numbers.  What cannot be one of those is a 400 naming it.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from .protocol import RequestError

SCALARS = (str, int, float, bool, type(None))
# The image files vautoml reads (PNG, JPEG, BMP), by their first bytes: anything else is refused before Pillow,
# which would otherwise open any of the dozens of formats it knows.
IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM")
DATA_URL = "data:"  # data:image/png;base64,<payload>, as a browser's FileReader gives it


def raw_from_json(inputs: Any, kind: str, spec: dict[str, Any]) -> Any:
    """The ``inputs`` of a JSON predict request, for a run of input ``kind`` (``preprocessing.json["input"]``)."""
    if kind == "table":
        return _records(inputs)
    if kind == "text":
        return _texts(inputs)
    if kind == "image" and (isinstance(inputs, str) or _all_strings(inputs)):
        strings = [inputs] if isinstance(inputs, str) else inputs
        return images_from_bytes([_base64(text, i) for i, text in enumerate(strings)], spec)
    return _array(inputs, kind)


def images_from_bytes(files: Sequence[bytes], spec: dict[str, Any]) -> np.ndarray:
    """Image files' bytes as the model's pixels, decoded in memory as ``vautoml predict`` decodes a file."""
    from ..data.images import image_pixels

    if not files:
        raise RequestError(400, "there is no image to predict on", "send at least one image")
    sources = []
    for i, data in enumerate(files):
        if not data.startswith(IMAGE_SIGNATURES):
            raise RequestError(400, f"image {i} is not a PNG, JPEG or BMP file", "send PNG, JPEG or BMP files")
        source = io.BytesIO(data)
        source.name = f"image {i}"  # what a decoding error calls it
        sources.append(source)
    return image_pixels(sources, spec)


def _records(inputs: Any) -> list[dict[str, Any]]:
    records = [inputs] if isinstance(inputs, dict) else inputs
    fix = 'send "inputs" as a list of {"column": value} records, or one record'
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise RequestError(400, "a table model takes records, and 'inputs' is not a non-empty list of them", fix)
    for i, record in enumerate(records):
        for column, value in record.items():
            if not isinstance(value, SCALARS):
                raise RequestError(400, f"record {i} has a {type(value).__name__} in column {column!r}", fix)
    return records


def _texts(inputs: Any) -> list[str]:
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not _all_strings(texts) or not texts:
        raise RequestError(
            400, "a text model takes strings, and 'inputs' is not a non-empty list of them", 'send "inputs": ["..."]'
        )
    return texts


def _base64(text: str, position: int) -> bytes:
    payload = text.split(",", 1)[1] if text.startswith(DATA_URL) else text
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(
            400, f"image {position} is not valid base64", "send each image file's bytes base64-encoded"
        ) from None


def _array(inputs: Any, kind: str) -> np.ndarray:
    fix = 'send "inputs" as nested lists of numbers, one entry per example'
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, f"a model of input kind '{kind}' takes arrays, and 'inputs' is not a list", fix)
    try:
        array = np.asarray(inputs)
    except ValueError:
        raise RequestError(400, "'inputs' is ragged: its nested lists differ in length", fix) from None
    if array.dtype.kind not in "iuf":
        raise RequestError(400, "'inputs' holds values that are not numbers", fix)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise RequestError(400, "'inputs' holds NaN or infinity", "send finite numbers")
    return array


def _all_strings(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)
