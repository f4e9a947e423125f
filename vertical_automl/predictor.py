"""Using a finished run: its model and its preprocessing, applied to raw inputs.

``load(RUN|PATH)`` reads a bundle (refusing one from a newer vautoml) and
returns a :class:`Predictor`.  Everything it does before the model comes from
``preprocessing.json`` alone, the same recipe the model card gives apps
without vautoml, so both give the same predictions.  Raw inputs by kind:

* tables: a CSV/TSV/Parquet path read as in training, a DataFrame, or a list of
  ``{column: value}`` rows (the target column, if present, is ignored);
* text: a list of strings, a ``.txt`` file (one text per line), a folder of
  ``.txt`` files (one text each), or a table with the training text column;
* images: an image file, a folder of images (searched recursively), an
  ``.npz``/HDF5 file with ``x``, or an array shaped like the training images,
  in their value range.  Image files are converted and resized as in
  training; for a model trained on arrays, their 0-255 pixels are mapped
  onto the training value range.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .bundle.files import MODEL_FILE, PREPROCESSING_FILE
from .data.dataset import LabeledData
from .data.images import IMAGE_SUFFIXES, read_resized
from .data.table_encoder import Column, TableEncoder
from .data.tables import frame_of_text, is_table_file, read_table
from .data.text import TextEncoder
from .errors import DataError, UsageError
from .registry.layout import default_root
from .registry.runs import Run, find_run, read_bundle_json

KERAS_ARCHIVE = ("config.json", "model.weights.h5")  # what keras.saving.load_model reads from a .keras zip


@dataclass
class Inputs:
    """Encoded model inputs and a name for each row (file path, line number or position)."""

    x: np.ndarray
    names: list[str]


class Predictor:
    """A run's ``model.keras`` with its ``preprocessing.json``, on raw inputs."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.preprocessing = read_bundle_json(run.path, PREPROCESSING_FILE)
        self.model = load_model(run.path)

    @property
    def task(self) -> str:
        return self.preprocessing["task"]

    @property
    def class_names(self) -> list[str]:
        return list(self.preprocessing["class_names"])

    def encode(self, raw: Any) -> Inputs:
        """Apply the bundle's preprocessing to ``raw`` (see the module docstring for what it accepts)."""
        spec = self.preprocessing["input"]
        kind = spec["kind"]
        if kind == "table":
            return _encode_table(raw, spec)
        if kind == "text":
            return _encode_text(raw, spec)
        if kind == "image":
            return _encode_images(raw, spec)
        raise DataError(f"the run's input kind '{kind}' is unknown to this vautoml", "upgrade vertical-automl")

    def scores(self, inputs: Inputs) -> np.ndarray:
        """Class probabilities (N, classes), or predicted values (N,) for regression."""
        from .scoring import predict_scores

        return predict_scores(self.model, inputs.x, self.task)

    def predict_proba(self, raw: Any) -> np.ndarray:
        """Probability of each class (columns in ``class_names`` order)."""
        if self.task == "regression":
            raise DataError(
                "this run is a regression model; it predicts values, not class probabilities", "use predict()"
            )
        return self.scores(self.encode(raw))

    def labels(self, scores: np.ndarray) -> list[Any]:
        """Class names (at the run's decision threshold for binary tasks), or values for regression."""
        if self.task == "regression":
            return [float(v) for v in scores]
        if self.task == "binary":
            output = self.preprocessing["output"]
            return [
                output["positive_class"] if p >= output["threshold"] else output["negative_class"] for p in scores[:, 1]
            ]
        return [self.class_names[i] for i in scores.argmax(axis=1)]

    def predict(self, raw: Any) -> list[Any]:
        """The predicted label (or value, for regression) of each input."""
        return self.labels(self.scores(self.encode(raw)))

    def threshold(self) -> float | None:
        return self.preprocessing["output"].get("threshold") if self.task == "binary" else None

    def reference(self) -> LabeledData:
        """Stands in for the training data when a vertical's loader reads labelled data 'like' it (vautoml evaluate)."""
        spec = self.preprocessing["input"]
        encoder = (
            table_encoder(spec) if spec["kind"] == "table" else text_encoder(spec) if spec["kind"] == "text" else None
        )
        target = self.run.report.dataset.get("target")
        empty = (
            np.empty((0, *spec["shape"]), dtype=np.float32) if spec["kind"] == "image" else np.empty((0,))
        )  # image loaders check the shape
        return LabeledData(
            empty,
            np.empty((0,), dtype=np.int64),
            tuple(self.class_names),
            dict(spec),
            f"run {self.run.run_id}",
            encoder,
            target,
        )


def evaluate(
    run: str | Path, data: str | Path, registry: str | Path | None = None, plugins: Any = None
) -> dict[str, Any]:
    """Score a run on a labelled file: the search's test metrics and the vertical's report sections.

    The file is read by the run's vertical's own loaders, exactly as
    ``--test-data`` would be, so it needs the same format and columns.
    """
    from .data.arrays import align_to_classes
    from .loading import load_source
    from .plugins import get_plugins
    from .report.sections import Evaluation
    from .scoring import predict_scores, score_test_split

    predictor = load(run, registry)
    plugins = plugins or get_plugins()
    vertical, _ = plugins.get_vertical(predictor.run.manifest.vertical)
    like = predictor.reference()
    options = (
        {"header": "false"} if like.input_spec.get("kind") == "table" and like.input_spec.get("header") is False else {}
    )
    labelled = load_source(plugins, vertical, Path(data), options, like=like)
    if predictor.task != "regression":
        labelled = align_to_classes(labelled, tuple(predictor.class_names))

    def encoded(raw: Any) -> np.ndarray:
        return like.encoder.transform(raw) if like.encoder is not None else np.asarray(raw, dtype=np.float32)

    scores = predictor.scores(Inputs(encoded(labelled.x), []))
    threshold = predictor.threshold()
    metrics = score_test_split(predictor.task, labelled.y, scores, tuple(predictor.class_names), threshold)
    evaluation = Evaluation(
        predictor.task,
        tuple(predictor.class_names),
        labelled.y,
        scores,
        labelled,
        predict=lambda raw: predict_scores(predictor.model, encoded(raw), predictor.task),
        threshold=threshold,
    )
    sections = list(vertical.report_sections(evaluation)) if vertical.report_sections else []
    return {
        "run_id": predictor.run.run_id,
        "data": labelled.source,
        "examples": int(len(labelled.y)),
        "task": predictor.task,
        "test_metrics": metrics,
        "decision_threshold": threshold,
        "sections": {section.name: {"title": section.title, **section.data} for section in sections},
    }


def load_model(run: Path) -> Any:
    """A run's ``model.keras``, loaded in safe mode; a missing, damaged or unsafe file is refused in one line.

    Keras reports a truncated or corrupt file as "File not found", and a model
    that safe mode refuses with advice to turn safe mode off, which must never
    reach someone loading a bundle of unknown origin.
    """
    import keras

    path = run / MODEL_FILE
    if not path.is_file():
        raise UsageError(
            f"the run '{run}' is missing its {MODEL_FILE}", "copy the whole run folder again, or search again"
        )
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:
        damage = _archive_damage(path)
        if damage is not None:
            fix = "re-export it (copy the run folder again from where it came from) or search again"
            raise UsageError(f"the model file '{path}' is damaged ({damage})", fix) from error
        if "safe_mode=False" in str(error).replace(str(path), ""):  # each refusal by Keras's safe mode names the flag
            raise UsageError(
                f"the model file '{path}' is unsafe: it holds code that Keras's safe mode refuses to run",
                "re-create the model with vautoml search, and do not load model files you do not trust",
            ) from None
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise UsageError(
            f"the model file '{path}' cannot be loaded ({type(error).__name__}: {first_line})",
            "install the plugin and library versions named in the run's manifest.json, or search again",
        ) from error


def _archive_damage(path: Path) -> str | None:
    """What is wrong with a ``.keras`` zip archive (truncated, corrupt, incomplete), or ``None`` if it is intact."""
    import zipfile
    import zlib

    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()  # reads every member and checks its CRC
            missing = [name for name in KERAS_ARCHIVE if name not in archive.namelist()]
    except (zipfile.BadZipFile, zlib.error, EOFError):
        return "it is truncated or corrupt: not a complete .keras zip archive"
    except OSError as error:
        return f"it cannot be read: {error.strerror or error}"
    if bad is not None:
        return f"it is corrupt: {bad} inside it fails its checksum"
    if missing:
        return f"it is incomplete: it lacks {', '.join(missing)}"
    return None


def load(run: str | Path, registry: str | Path | None = None) -> Predictor:
    """The predictor of a run, by id (in ``registry``, default ``./registry``) or by its folder."""
    return Predictor(find_run(Path(registry) if registry is not None else default_root(), str(run)))


def _encode_table(raw: Any, spec: dict[str, Any]) -> Inputs:
    import pandas as pd

    if isinstance(raw, (str, Path)):
        path = Path(raw)
        if not path.is_file() or not is_table_file(path) and path.suffix:
            raise DataError(
                f"'{path}' is not a table file", "give a CSV, TSV or Parquet file with the training columns"
            )
        options = {"header": "true" if spec.get("header", True) else "false"}
        for key in ("delimiter", "encoding"):  # as the training file was read (bundles before encoding have none)
            if spec.get(key):
                options[key] = spec[key]
        frame = read_table(path, options)
        names = [f"{frame.index.name} {i}" for i in frame.index]  # the index stays numbers, so errors say "line 4"
    elif isinstance(raw, pd.DataFrame):
        frame = frame_of_text(raw)
        names = [str(i) for i in frame.index]
    elif isinstance(raw, list) and all(isinstance(row, dict) for row in raw):
        frame = frame_of_text(pd.DataFrame(raw))
        names = [str(i) for i in frame.index]
    else:
        raise DataError(
            f"a table model cannot read {type(raw).__name__} input",
            "give a CSV/TSV/Parquet path, a DataFrame or a list of {column: value} rows",
        )
    return Inputs(table_encoder(spec).transform(frame), names)


def table_encoder(spec: dict[str, Any]) -> TableEncoder:
    """The fitted table encoder that ``spec`` (``preprocessing.json["input"]``) describes."""
    columns = [
        Column(
            c["name"],
            c["type"],
            tuple(c["missing_values"]),
            fill=c.get("fill"),
            indicator=bool(c.get("indicator")),
            categories=tuple(c.get("categories", ())),
        )
        for c in spec["columns"]
    ]
    read_as = ("format", "header", "delimiter", "encoding", "decimal", "target")
    return TableEncoder(columns, {key: spec.get(key) for key in read_as}, fitted=True)


def text_encoder(spec: dict[str, Any]) -> TextEncoder:
    """The fitted text encoder that ``spec`` describes.

    Bundles from before the n-gram bag have neither ``token_count`` nor
    ``ngram_length``: their vocabulary is all tokens and their rows token ids only.
    """
    return TextEncoder(
        sequence_length=spec["sequence_length"],
        vocabulary=tuple(spec["vocabulary"]),
        token_count=spec.get("token_count"),
        ngram_length=spec.get("ngram_length", 0),
    )


def _encode_text(raw: Any, spec: dict[str, Any]) -> Inputs:
    if isinstance(raw, (str, Path)) and Path(raw).exists():
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.txt") if p.is_file())
            if not files:
                raise DataError(f"the folder '{path}' holds no .txt files", "put one text per .txt file in it")
            texts, names = [f.read_text(encoding="utf-8", errors="replace") for f in files], [str(f) for f in files]
        elif path.suffix.lower() == ".txt":
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            names, texts = (
                zip(*[(f"line {i}", line) for i, line in enumerate(lines, 1) if line.strip()])
                if any(line.strip() for line in lines)
                else ((), ())
            )
        else:
            frame = read_table(path, {})
            column = spec.get("text_column")
            if column not in frame.columns:
                if frame.shape[1] != 1:
                    raise DataError(
                        f"'{path}' has no column '{column}', the text column the model was trained on",
                        f"name the text column '{column}'",
                    )
                column = frame.columns[0]
            texts, names = list(frame[column]), [f"line {i}" for i in frame.index]
    elif isinstance(raw, str):
        texts, names = [raw], ["0"]
    elif isinstance(raw, (list, tuple)) and all(isinstance(t, str) for t in raw):
        texts, names = list(raw), [str(i) for i in range(len(raw))]
    else:
        raise DataError(
            f"a text model cannot read {type(raw).__name__} input",
            "give a list of strings, a .txt file (one text per line), a folder of .txt files or a table",
        )
    if not texts:
        raise DataError("there is no text to predict on", "give at least one non-empty text")
    return Inputs(text_encoder(spec).transform(list(texts)), list(names))


def _encode_images(raw: Any, spec: dict[str, Any]) -> Inputs:
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
        return Inputs(x.astype(np.float32), [str(i) for i in range(len(x))])
    path = Path(raw)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise DataError(f"'{path}' does not exist", "give an image file or a folder of images")
    if not files:
        raise DataError(f"'{path}' holds no PNG, JPEG or BMP images", "give a folder with image files")
    color_mode = spec.get("color_mode") or ("grayscale" if channels == 1 else "rgb")
    pixels = (
        np.stack([read_resized(file, height, width, color_mode) for file in files])
        .reshape(len(files), height, width, channels)
        .astype(np.float32)
    )
    if "resize" not in spec:  # trained on arrays: map 0-255 onto their value range
        low, high = spec["value_range"]
        pixels = low + pixels / 255.0 * (high - low)
    return Inputs(pixels, [str(f) for f in files])


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
