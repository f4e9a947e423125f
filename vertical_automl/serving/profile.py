"""A run's training inputs as drift monitoring sees them: ``input_profile.json``.

The search writes it beside the model (:class:`InputProfile`, from the encoded
training split): for each *monitored feature* of the encoded rows, its range
and a histogram; :mod:`.drift` compares the rows a server scores with it.

Monitored features are few whatever the input, so that the profile and the work
per request stay small; they are read from the encoded rows (what the model
sees, so every input kind, a plugin's too, is covered):

* token ids (a spec with ``padding_index``, as the text encoder writes): per
  row, the number of tokens (ids other than padding among the first
  ``sequence_length``) and the share of them out of vocabulary, which move when
  people write longer, shorter, or about other things;
* rows of at most ``MAX_COLUMNS`` values (tables, small arrays): each column,
  named as the table encoder names its features (``income``, ``income (missing)``,
  ``region=south``), else ``x[i]``;
* anything else (images, windows of readings, wide rows): per row the mean and
  the standard deviation (brightness and contrast, for images), per channel when
  there are at most ``MAX_CHANNELS`` (the last axis, the first for ``channels_first``).

Bins: the training deciles between the training minimum and maximum; a feature
with at most ``BINS`` distinct training values (one-hot and missing indicators,
flags, constants) would collapse its deciles, so each distinct value gets its
own bin (edges half-way between).  Two more bins hold values below the minimum
and above the maximum (NaN counts as above): their training share is 0, so a
scaled column or a constant that moves shows at once.  PSI is sum((window share
- training share) * ln(window share / training share)) over the bins, every
share smoothed by ``EPSILON`` so that an empty bin gives a large, finite PSI.

``input_profile.json`` is plain JSON, readable without vautoml::

    {"profile_version": 1, "training_rows": 4000, "sampled_rows": 4000,
     "extraction": {"method": "columns" | "text" | "summary", "row_shape": [8],
                    "sequence_length": 0, "padding_index": 0, "out_of_vocabulary_index": 1,
                    "channel_axis": null},
     "features": [{"name": "income", "minimum": 3.1, "maximum": 250.0,
                   "edges": [...], "proportions": [...]}, ...]}

``edges`` are increasing bin edges (a value v is in bin i when edges[i-1] <= v <
edges[i]), ``proportions`` the training share of each of the len(edges) + 1
bins between minimum and maximum.  The range is the whole training split's; the
histogram comes from at most ``MAX_TRAINING_ROWS`` of its rows (a fixed-seed
sample), which keeps big runs fast and the file small (a few KB; about 125 KB at 256 columns).
Only numpy is needed: the search writes the profile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from ..data.text_encoder import OOV as TEXT_OOV
from ..data.text_encoder import PAD as TEXT_PAD

PROFILE_VERSION = 1
BINS = 10  # deciles
MAX_COLUMNS = 256  # rows wider than this are summarised, not monitored column by column
MAX_CHANNELS = 16  # more "channels" than this is not an image: the whole row is summarised
MAX_TRAINING_ROWS = 10_000  # rows of the training split the histograms come from
EPSILON = 1e-4  # smoothing of every share, so an empty bin gives a finite PSI
SEED = 0  # of the training sample: the same run writes the same profile
CHUNK = 4096  # training rows turned into features at once (images: bounded memory)


class Method(StrEnum):
    """How an encoded row becomes its monitored features."""

    COLUMNS = "columns"
    TEXT = "text"
    SUMMARY = "summary"


@dataclass(frozen=True)
class Extraction:
    """The monitored features of encoded rows of ``row_shape`` (the shape of one row, batch axis dropped)."""

    method: Method
    row_shape: tuple[int, ...]
    sequence_length: int = 0  # text: the token-id columns (the n-gram ids after them are not counted)
    padding_index: int = TEXT_PAD
    out_of_vocabulary_index: int = TEXT_OOV
    channel_axis: int | None = None  # summary: the row's channel axis, or None for the whole row

    @classmethod
    def choose(cls, x: np.ndarray, spec: dict[str, Any]) -> Extraction:
        """The extraction for training rows ``x`` encoded as ``spec`` says (see the module docstring)."""
        row_shape = tuple(int(d) for d in x.shape[1:])
        if spec.get("padding_index") is not None and x.ndim == 2 and x.dtype.kind in "iu":
            length = int(spec.get("sequence_length") or row_shape[0])
            return cls(
                Method.TEXT,
                row_shape,
                sequence_length=min(length, row_shape[0]),
                padding_index=int(spec["padding_index"]),
                out_of_vocabulary_index=int(spec.get("out_of_vocabulary_index", TEXT_OOV)),
            )
        if x.ndim == 1 or (x.ndim == 2 and row_shape[0] <= MAX_COLUMNS):
            return cls(Method.COLUMNS, row_shape)
        if x.ndim >= 3:
            axis = 0 if spec.get("layout") == "channels_first" else len(row_shape) - 1
            if row_shape[axis] <= MAX_CHANNELS:
                return cls(Method.SUMMARY, row_shape, channel_axis=axis)
        return cls(Method.SUMMARY, row_shape)

    def names(self, spec: dict[str, Any]) -> list[str]:
        """The monitored features' names, in the order of :meth:`features`' columns."""
        if self.method is Method.TEXT:
            return ["tokens", "out-of-vocabulary share"]
        if self.method is Method.COLUMNS:
            width = self.row_shape[0] if self.row_shape else 1
            named = spec.get("features")
            if isinstance(named, list) and len(named) == width and all(isinstance(n, str) for n in named):
                return list(named)
            return [f"x[{i}]" for i in range(width)]
        channels = 1 if self.channel_axis is None else self.row_shape[self.channel_axis]
        if channels == 1:
            return ["mean", "std"]
        return [f"{stat} (channel {c})" for stat in ("mean", "std") for c in range(channels)]

    def features(self, x: np.ndarray) -> np.ndarray:
        """(N, F) float64 monitored features of encoded rows ``x``; rows of another shape are refused."""
        x = np.asarray(x)
        if tuple(x.shape[1:]) != self.row_shape:
            raise ValueError(f"rows of shape {list(x.shape[1:])} given, the profile's are {list(self.row_shape)}")
        if self.method is Method.TEXT:
            ids = x[:, : self.sequence_length]
            tokens = (ids != self.padding_index).sum(axis=1)
            unknown = (ids == self.out_of_vocabulary_index).sum(axis=1)
            return np.stack([tokens, unknown / np.maximum(tokens, 1)], axis=1).astype(np.float64)
        if self.method is Method.COLUMNS:
            return x.reshape(len(x), -1).astype(np.float64)
        if self.channel_axis is None:
            flat = x.reshape(len(x), -1).astype(np.float64)
            return np.stack([flat.mean(axis=1), flat.std(axis=1)], axis=1)
        channels = self.row_shape[self.channel_axis]
        values = np.moveaxis(x, self.channel_axis + 1, -1).reshape(len(x), -1, channels).astype(np.float64)
        return np.concatenate([values.mean(axis=1), values.std(axis=1)], axis=1)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": str(self.method),
            "row_shape": list(self.row_shape),
            "sequence_length": self.sequence_length,
            "padding_index": self.padding_index,
            "out_of_vocabulary_index": self.out_of_vocabulary_index,
            "channel_axis": self.channel_axis,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Extraction:
        row_shape = tuple(_whole(d, "row_shape") for d in _list(value, "row_shape"))
        axis = value.get("channel_axis")
        extraction = cls(
            Method(value["method"]),
            row_shape,
            _whole(value.get("sequence_length", 0), "sequence_length"),
            _whole(value.get("padding_index", TEXT_PAD), "padding_index"),
            _whole(value.get("out_of_vocabulary_index", TEXT_OOV), "out_of_vocabulary_index"),
            None if axis is None else _whole(axis, "channel_axis"),
        )
        if extraction.channel_axis is not None and extraction.channel_axis >= len(row_shape):
            raise ValueError(f"channel_axis {extraction.channel_axis} is not an axis of rows shaped {list(row_shape)}")
        return extraction


@dataclass(frozen=True)
class FeatureProfile:
    """One monitored feature in training: its range and its histogram (see the module docstring)."""

    name: str
    minimum: float
    maximum: float
    edges: tuple[float, ...]
    proportions: tuple[float, ...]  # training share of each bin between minimum and maximum

    @classmethod
    def fit(cls, name: str, sample: np.ndarray, minimum: float, maximum: float) -> FeatureProfile:
        """Bins from a training ``sample`` of the feature, within the whole training split's range."""
        distinct = np.unique(sample)
        if len(distinct) <= BINS:  # quantiles would collapse: one bin per value
            cuts = (distinct[:-1] + distinct[1:]) / 2
        else:
            cuts = np.quantile(sample, np.arange(1, BINS) / BINS)
        # 9 significant digits keep float32 values apart and the file small; a cut at the minimum is an empty bin.
        edges = tuple(e for e in np.unique([float(f"{c:.9g}") for c in cuts]) if minimum < e <= maximum)
        profile = cls(name, float(minimum), float(maximum), tuple(float(e) for e in edges), ())
        counts = profile.counts(sample)[1:-1]
        return cls(
            name, profile.minimum, profile.maximum, profile.edges, tuple(_short(c / len(sample)) for c in counts)
        )

    def counts(self, values: np.ndarray) -> np.ndarray:
        """How many ``values`` fall in each bin: below the minimum, the len(edges) + 1 in range, above the maximum."""
        index = np.searchsorted(np.asarray(self.edges), values, side="right") + 1
        index[values < self.minimum] = 0
        index[(values > self.maximum) | np.isnan(values)] = len(self.edges) + 2
        return np.bincount(index, minlength=len(self.edges) + 3)

    def psi(self, values: np.ndarray) -> float:
        """The population stability index of ``values`` against training, both shares smoothed by ``EPSILON``."""
        actual = self.counts(values) / len(values)
        expected = np.array([0.0, *self.proportions, 0.0])
        actual = (actual + EPSILON) / (actual.sum() + EPSILON * len(actual))
        expected = (expected + EPSILON) / (expected.sum() + EPSILON * len(expected))
        return float(np.sum((actual - expected) * np.log(actual / expected)))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "edges": list(self.edges),
            "proportions": list(self.proportions),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> FeatureProfile:
        name = value["name"]
        if not isinstance(name, str):
            raise ValueError(f"a feature's name is a JSON {type(name).__name__}, not a string")
        minimum, maximum = _number(value["minimum"], name), _number(value["maximum"], name)
        edges = tuple(_number(e, name) for e in _list(value, "edges"))
        proportions = tuple(_number(p, name) for p in _list(value, "proportions"))
        if not (minimum <= maximum and all(minimum < e <= maximum for e in edges) and list(edges) == sorted(edges)):
            raise ValueError(f"feature '{name}' has edges out of order or outside its minimum and maximum")
        if len(proportions) != len(edges) + 1 or min(proportions) < 0 or abs(sum(proportions) - 1) > 1e-3:
            raise ValueError(f"feature '{name}' needs {len(edges) + 1} non-negative proportions summing to 1")
        return cls(name, minimum, maximum, edges, proportions)


@dataclass(frozen=True)
class InputProfile:
    """A run's training inputs as drift monitoring compares served rows with them: ``input_profile.json``."""

    extraction: Extraction
    monitored: tuple[FeatureProfile, ...]
    training_rows: int
    sampled_rows: int

    @classmethod
    def from_training(cls, x: np.ndarray, spec: dict[str, Any]) -> InputProfile:
        """The profile of encoded training rows ``x``; ``spec`` is ``preprocessing.json["input"]``."""
        x = np.asarray(x)
        if x.ndim == 0 or len(x) == 0 or x.dtype.kind not in "biuf":
            raise ValueError(f"an input profile needs rows of numbers, not an array of {x.dtype} shaped {x.shape}")
        extraction = Extraction.choose(x, spec)
        chunks = [extraction.features(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)]
        minimum = np.min([chunk.min(axis=0) for chunk in chunks], axis=0)
        maximum = np.max([chunk.max(axis=0) for chunk in chunks], axis=0)
        if len(x) > MAX_TRAINING_ROWS:
            rows = np.sort(np.random.default_rng(SEED).choice(len(x), MAX_TRAINING_ROWS, replace=False))
            sample = extraction.features(x[rows])
        else:
            sample = np.concatenate(chunks)
        monitored = tuple(
            FeatureProfile.fit(name, sample[:, i], minimum[i], maximum[i])
            for i, name in enumerate(extraction.names(spec))
        )
        return cls(extraction, monitored, int(len(x)), int(len(sample)))

    def features(self, x: np.ndarray) -> np.ndarray:
        """(N, F) monitored feature values of encoded rows ``x``, in the order of ``monitored``."""
        return self.extraction.features(x)

    def to_json(self) -> dict[str, Any]:
        return {
            "profile_version": PROFILE_VERSION,
            "training_rows": self.training_rows,
            "sampled_rows": self.sampled_rows,
            "extraction": self.extraction.to_json(),
            "features": [feature.to_json() for feature in self.monitored],
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> InputProfile:
        """The profile ``to_json`` wrote; anything else raises ``ValueError`` naming what is wrong."""
        try:
            if value.get("profile_version") != PROFILE_VERSION:
                raise ValueError(f"profile_version is {value.get('profile_version')!r}, not {PROFILE_VERSION}")
            extraction = Extraction.from_json(value["extraction"])
            monitored = tuple(FeatureProfile.from_json(feature) for feature in _list(value, "features"))
            profile = cls(
                extraction,
                monitored,
                _whole(value["training_rows"], "training_rows"),
                _whole(value["sampled_rows"], "sampled_rows"),
            )
        except KeyError as error:
            raise ValueError(f"it lacks the key {error}") from None
        except (AttributeError, TypeError) as error:
            raise ValueError(f"its entries have the wrong types ({error})") from None
        probe = np.zeros((1, *extraction.row_shape), dtype=np.float32)
        if extraction.features(probe).shape[1] != len(monitored):
            raise ValueError(f"it lists {len(monitored)} features, but its extraction makes another number")
        return profile


def _list(value: dict[str, Any], key: str) -> list[Any]:
    found = value[key]
    if not isinstance(found, list):
        raise ValueError(f"{key} is a JSON {type(found).__name__}, not a list")
    return found


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be whole numbers of at least 0, not {value!r}")
    return value


def _number(value: Any, feature: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"feature '{feature}' has {value!r} where a finite number belongs")
    return float(value)


def _short(share: float) -> float:
    """A training share to 6 significant digits: plenty for PSI, and a smaller file."""
    return float(f"{share:.6g}")
