"""Using a finished run: its model and its preprocessing, applied to raw inputs.

``load(RUN|PATH)`` reads a bundle (refusing one from a newer vautoml) and
returns a :class:`Predictor`.  Everything it does before the model comes from
``preprocessing.json`` alone, the same recipe the model card gives apps
without vautoml, so both give the same predictions.  What it accepts and how
it encodes it is the run's input kind's (:class:`~vertical_automl.data.input_kind.InputKind`,
named by ``preprocessing.json["input"]["kind"]``):

* tables: a CSV/TSV/Parquet path read as in training, a DataFrame, or a list of
  ``{column: value}`` rows (the target column, if present, is ignored);
* text: a list of strings, a ``.txt`` file (one text per line), a folder of
  ``.txt`` files (one text each), or a table with the training text column;
* images: an image file, a folder of images (searched recursively), an
  ``.npz``/HDF5 file with ``x``, or an array shaped like the training images;
* arrays: an array, ``.npy`` or ``.npz`` file of model-ready rows;
* a plugin's kind: what its ``read`` accepts; without one, an array, or a path
  read by the vertical's own loaders of that kind;
* any kind: a file that a loader added with ``register_data_loaders`` reads
  (and none of the vertical's own loaders does) is read with that loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .bundle.files import MODEL_FILE, PREPROCESSING_FILE
from .data.dataset import LabeledData
from .data.encoding import Encoder
from .data.input_kind import InputKind, RawInputs
from .data.loader import DataLoader
from .errors import DataError, UsageError
from .kinds import input_kind, rebuild_encoder
from .plugin_calls import encoder_crash
from .registry.layout import default_root
from .registry.runs import Run, find_run, read_bundle_json

if TYPE_CHECKING:  # pragma: no cover - plugins load only for a kind that is not the core's
    from .plugins import InstalledPlugins

KERAS_ARCHIVE = ("config.json", "model.weights.h5")  # what keras.saving.load_model reads from a .keras zip


@dataclass
class Inputs:
    """Encoded model inputs and a name for each row (file path, line number or position)."""

    x: np.ndarray
    names: list[str]


class Preprocessor:
    """A run's ``preprocessing.json`` applied to raw inputs, and its outputs read as labels: all but the model.

    It loads neither Keras nor torch, so a runtime other than Keras (the ONNX
    server) encodes and labels exactly as :class:`Predictor` does.
    """

    def __init__(self, run: Run, plugins: InstalledPlugins | None = None) -> None:
        self.run = run
        self.preprocessing = read_bundle_json(run.path, PREPROCESSING_FILE)
        self.plugins = plugins  # None: this process's, loaded only for a kind that is not the core's
        self._kind: InputKind | None = None
        self._encoder: Encoder | None = None

    @property
    def task(self) -> str:
        return self.preprocessing["task"]

    @property
    def class_names(self) -> list[str]:
        return list(self.preprocessing["class_names"])

    @property
    def spec(self) -> dict[str, Any]:
        """``preprocessing.json["input"]``: every step before the model."""
        return self.preprocessing["input"]

    @property
    def kind(self) -> InputKind:
        """The run's input kind, found once: the core's, or an installed plugin's (else a one-line error)."""
        if self._kind is None:
            plugin = self.run.manifest.plugin
            self._kind = input_kind(self.spec["kind"], self.plugins, plugin.distribution if plugin else None)
        return self._kind

    @property
    def encoder(self) -> Encoder | None:
        """The fitted encoder rebuilt from the bundle (``None`` when the kind has none): the only one ever used."""
        if self._encoder is None:
            self._encoder = rebuild_encoder(self.kind, self.spec)
        return self._encoder

    def encode(self, raw: Any) -> Inputs:
        """Apply the bundle's preprocessing to ``raw`` (see the module docstring for what it accepts)."""
        extra = self._extra_loader_for(raw)
        if extra is not None:
            read = self._read_with(extra, Path(raw))
        elif self.kind.read is not None:
            read = self.kind.read(raw, self.spec)
        else:
            read = self._read_with_loaders(raw)
        return Inputs(self.encoded(read.x), list(read.names))

    def encoded(self, x: Any) -> np.ndarray:
        """Raw inputs (as the kind reads them, or a loader returns them) through the rebuilt encoder.

        The encoder may be a plugin's: a crash inside it is named after its class and method, as in training.
        """
        if self.encoder is None:
            return np.asarray(x)
        try:
            return self.encoder.transform(x)
        except Exception as error:
            crash = encoder_crash(error, self.encoder)
            if crash is None:
                raise
            raise crash from error

    def _installed(self) -> InstalledPlugins:
        from .plugins import get_plugins

        return self.plugins or get_plugins()

    def _extra_loader_for(self, raw: Any) -> DataLoader | None:
        """A loader added with ``register_data_loaders`` that would have read the path ``raw`` in training.

        Such a loader reads a format the vertical's own loaders do not (an
        Excel sheet for a table vertical), so the kind's ``read`` does not know
        it either; as in training, it is used only when none of the vertical's
        own loaders takes the path.
        """
        if not isinstance(raw, (str, Path)) or not Path(raw).exists():
            return None
        path, plugins, name = Path(raw), self._installed(), self.run.manifest.vertical
        if name not in plugins.verticals:
            return None  # the vertical's plugin is not installed: its loaders and their additions are not either
        vertical, _ = plugins.get_vertical(name)
        if any(loader.can_load(path) for loader in vertical.loaders):
            return None
        for loader in plugins.extra_loaders.get(name, ()):
            if (loader.kind is None or loader.kind.name == self.kind.name) and loader.can_load(path):
                return loader
        return None

    def _read_with(self, loader: DataLoader, path: Path) -> RawInputs:
        """``path`` read by ``loader`` as training data would be (its labels are not used)."""
        data = loader.load(path, {}, self.reference())
        if data.input_spec.get("kind") != self.kind.name:
            raise DataError(
                f"the '{loader.name}' loader read '{path}' as input kind '{data.input_spec.get('kind')}', "
                f"but the run's model takes '{self.kind.name}'",
                "give a file of the kind the run was trained on",
            )
        return RawInputs(data.x, [f"{path} {i}" for i in range(len(data))])

    def _read_with_loaders(self, raw: Any) -> RawInputs:
        """For a kind without ``read``: an array as it is, or a path read by the vertical's loaders of this kind."""
        if isinstance(raw, np.ndarray):
            return RawInputs(raw, [str(i) for i in range(len(raw))])
        path, plugins = Path(raw), self._installed()
        loaders = [
            loader
            for loader in plugins.loaders_for(self.run.manifest.vertical)
            if loader.kind is not None and loader.kind.name == self.kind.name
        ]
        for loader in loaders:
            if loader.can_load(path):
                return self._read_with(loader, path)
        accepted = "; ".join(loader.description for loader in loaders) or "none"
        raise DataError(f"no loader of input kind '{self.kind.name}' reads '{path}'", f"give one of: {accepted}")

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

    def threshold(self) -> float | None:
        return self.preprocessing["output"].get("threshold") if self.task == "binary" else None

    def reference(self) -> LabeledData:
        """Stands in for the training data when a vertical's loader reads labelled data 'like' it (vautoml evaluate).

        It carries the rebuilt encoder (loaders read the training columns and
        read options from it) and, for a kind without one, no rows of the
        training shape (loaders of arrays compare shapes).
        """
        spec = self.spec
        shaped = self.encoder is None and "shape" in spec
        empty = np.empty((0, *spec["shape"]), dtype=np.float32) if shaped else np.empty((0,))
        target = self.run.report.dataset.get("target")
        return LabeledData(
            empty,
            np.empty((0,), dtype=np.int64),
            tuple(self.class_names),
            dict(spec),
            f"run {self.run.run_id}",
            self.encoder,
            target,
        )


class Predictor(Preprocessor):
    """A run's ``model.keras`` with its ``preprocessing.json``, on raw inputs."""

    def __init__(self, run: Run, plugins: InstalledPlugins | None = None) -> None:
        super().__init__(run, plugins)
        self.model = load_model(run.path)

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

    def predict(self, raw: Any) -> list[Any]:
        """The predicted label (or value, for regression) of each input."""
        return self.labels(self.scores(self.encode(raw)))


def evaluate(
    run: str | Path, data: str | Path, registry: str | Path | None = None, plugins: InstalledPlugins | None = None
) -> dict[str, Any]:
    """Score a run on a labelled file: the search's test metrics and the vertical's report sections.

    The file is read by the run's vertical's own loaders, exactly as
    ``--test-data`` would be, so it needs the same format and columns; it is
    always encoded with the encoder rebuilt from the bundle, never with one a
    loader returns, and refused when its input kind is not the run's.
    """
    from .plugins import get_plugins
    from .report.sections import Evaluation
    from .scoring import predict_scores, score_test_split

    plugins = plugins or get_plugins()
    predictor = load(run, registry, plugins)
    labelled = read_labelled(predictor, Path(data), plugins)
    vertical, _ = plugins.get_vertical(predictor.run.manifest.vertical)
    scores = predictor.scores(Inputs(predictor.encoded(labelled.x), []))
    threshold = predictor.threshold()
    metrics = score_test_split(predictor.task, labelled.y, scores, tuple(predictor.class_names), threshold)
    evaluation = Evaluation(
        predictor.task,
        tuple(predictor.class_names),
        labelled.y,
        scores,
        labelled,
        predict=lambda raw: predict_scores(predictor.model, predictor.encoded(raw), predictor.task),
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


def read_labelled(preprocessor: Preprocessor, data: Path, plugins: InstalledPlugins) -> LabeledData:
    """A labelled file read as ``vautoml evaluate`` reads it (raw ``x``, labels in the run's class order).

    The run's vertical's own loaders read it exactly as ``--test-data`` would
    be; it is refused when its input kind is not the run's.  Everything that
    scores a run on labelled data (evaluate, ``export --quantize``) reads it
    here, so their metrics are measured on the same rows.
    """
    from .data.arrays import align_to_classes
    from .loading import load_source

    like = preprocessor.reference()  # finds the kind and rebuilds the encoder first: refused here if either fails
    vertical, _ = plugins.get_vertical(preprocessor.run.manifest.vertical)
    options = (
        {"header": "false"} if like.input_spec.get("kind") == "table" and like.input_spec.get("header") is False else {}
    )
    labelled = load_source(plugins, vertical, data, options, like=like)
    read_as = labelled.input_spec.get("kind")
    if read_as != preprocessor.kind.name:
        raise DataError(
            f"'{data}' reads as input kind '{read_as}', but run {preprocessor.run.run_id} "
            f"takes '{preprocessor.kind.name}'",
            "give labelled data in the format the run was trained on",
        )
    if preprocessor.task != "regression":
        labelled = align_to_classes(labelled, tuple(preprocessor.class_names))
    return labelled


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


def load(run: str | Path, registry: str | Path | None = None, plugins: InstalledPlugins | None = None) -> Predictor:
    """The predictor of a run, by id (in ``registry``, default ``./registry``) or by its folder.

    ``plugins`` are where a plugin's input kind is looked up (default: this
    process's installed plugins, loaded only if the kind is not the core's).
    """
    return Predictor(find_run(Path(registry) if registry is not None else default_root(), str(run)), plugins)
