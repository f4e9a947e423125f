"""The input-kind contract: how a bundle's raw inputs become model input again, without the training data.

Training reads data with a vertical's loaders; everything that comes after a
search (``vautoml predict``, ``vautoml evaluate``, ``vautoml export``, the
model card's code, a server) has only the bundle.  An :class:`InputKind` is
what lets each of them repeat training's steps for one kind of input from
``preprocessing.json["input"]`` alone:

* ``encoder`` is the :class:`~vertical_automl.data.encoding.Encoder` class the
  kind's loaders attach (``None`` when their arrays go into the model as they
  are); the core rebuilds the fitted encoder with ``encoder.from_spec(spec)``;
* ``read(raw, spec)`` turns what a user hands to ``predict`` (a path, an
  array, a list of records) into :class:`RawInputs`, which the rebuilt encoder
  then encodes; a kind without ``read`` takes arrays as they are, and reads a
  path with the run's vertical's loaders of the kind (``like`` the run);
* ``usage_code(spec)`` is the Python a downstream app runs to do the same
  without vautoml, needing only ``usage_requirements`` (pip names) besides
  Keras and NumPy; the model card shows it when the vertical has no
  ``usage_code`` of its own.  Its lines must assign ``x``, the model's input;
  in scope before them are ``prep`` (``preprocessing.json``, loaded), ``np``,
  ``json``, ``os`` and ``keras`` (and ``model``), and nothing else;
* ``examples(spec, rows, rng)`` gives model-ready inputs like real ones, for the
  checks ``vautoml export`` runs on every exported file.

The core's own kinds (``table``, ``text``, ``image``, ``arrays``) are in
:mod:`vertical_automl.data.kinds`; a plugin's loaders declare theirs with
``DataLoader(kind=...)``, and ``input_spec["kind"]`` names it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .encoding import Encoder

KIND_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class RawInputs:
    """Inputs as a kind's ``read`` produced them (for the encoder, or model-ready), and a name for each row.

    Names say where a row came from (a file path, "line 4", a position), so a
    prediction can be traced back and an error can point at its row.
    """

    x: Any
    names: list[str]


@dataclass(frozen=True)
class InputKind:
    """One kind of raw input, and how to repeat its preprocessing from ``preprocessing.json``."""

    name: str
    description: str
    encoder: type[Encoder] | None = None
    read: Callable[[Any, dict[str, Any]], RawInputs] | None = None
    usage_code: Callable[[dict[str, Any]], list[str]] | None = None
    usage_requirements: tuple[str, ...] = ()
    examples: Callable[[dict[str, Any], int, np.random.Generator], np.ndarray] | None = None

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when valid)."""
        from .encoding import Encoder

        found = []
        if not isinstance(self.name, str) or not KIND_NAME.match(self.name):
            found.append(f"input kind name {self.name!r} must be lowercase letters, digits, '-' or '_' (at most 40)")
        if self.encoder is not None and not (isinstance(self.encoder, type) and issubclass(self.encoder, Encoder)):
            found.append(f"input kind {self.name!r} has encoder {self.encoder!r}, which is not an Encoder class")
        for field_name in ("read", "usage_code", "examples"):
            value = getattr(self, field_name)
            if value is not None and not callable(value):
                found.append(f"input kind {self.name!r} has a {field_name} that is not callable")
        if not isinstance(self.usage_requirements, tuple):
            found.append(f"input kind {self.name!r} has usage_requirements that is not a tuple of package names")
        return found
