"""The core's input kinds, by name: those every bundle can be read with, whatever plugins are installed.

Each is defined beside its loaders; this module only gathers them, so the
resolver (:mod:`vertical_automl.kinds`) finds them before looking at plugins.
"""

from __future__ import annotations

from .arrays import ARRAYS
from .images import IMAGE
from .input_kind import InputKind
from .tabular import TABLE
from .text import TEXT

CORE_KINDS: dict[str, InputKind] = {kind.name: kind for kind in (TABLE, TEXT, IMAGE, ARRAYS)}
