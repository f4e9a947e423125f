"""Check (b): each loader reads its sample into labelled data the core can split, encode and describe.

A loader's output is only checked by the core piece by piece as a search
needs it; this check reads every loader's sample and states the whole
contract at once: lengths agree, ``input_spec["kind"]`` names a kind, and the
encoder is of the class that kind rebuilds from a bundle (exactly: a
subclass would be rebuilt as its parent, and predict differently).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.dataset import LabeledData, validate_labeled
from ..data.input_kind import InputKind
from ..data.kinds import CORE_KINDS
from ..data.loader import DataLoader
from ..errors import VautomlError
from ..kinds import input_kind
from .failure import Failure
from .subject import Subject


def check_samples(subject: Subject) -> None:
    """Every loader with a sample reads it into valid :class:`LabeledData`."""
    for loader, path in subject.sample_sources():
        try:
            data = loader.load(path, subject.options_for(loader, path), None)
        except VautomlError as error:
            raise Failure(
                f"loader {loader.name!r} cannot read its sample '{path}': {error}",
                "give a sample the loader reads, or fix the loader",
            ) from error
        problems = labeled_problems(data, loader, subject)
        if problems:
            raise Failure(
                f"loader {loader.name!r} read '{path}' into invalid data: {'; '.join(problems)}",
                "return LabeledData as vertical_automl.data.dataset documents it",
            )


def labeled_problems(data: Any, loader: DataLoader, subject: Subject) -> list[str]:
    """What is wrong with what ``loader`` returned (empty when it is valid)."""
    if not isinstance(data, LabeledData):
        return [f"it returned {type(data).__name__}, not LabeledData"]
    problems = []
    rows = len(data.y)
    if len(data.x) != rows:
        problems.append(f"x has {len(data.x)} rows but y has {rows}")
    for what in ("groups", "order"):
        values = getattr(data, what)
        if values is not None and len(values) != rows:
            problems.append(f"{what} has {len(values)} entries for {rows} rows")
    if not isinstance(data.class_names, tuple) or not all(isinstance(c, str) for c in data.class_names):
        problems.append(f"class_names {data.class_names!r} is not a tuple of strings")
    elif data.class_names and (
        not np.issubdtype(np.asarray(data.y).dtype, np.integer)
        or rows
        and not 0 <= data.y.min() <= data.y.max() < len(data.class_names)
    ):
        problems.append("y must hold class indices into class_names")
    problems += kind_problems(data, loader, subject)
    if not problems:
        try:
            validate_labeled(data, f"the sample read by loader {loader.name!r}")
        except VautomlError as error:
            problems.append(str(error))
    return problems


def kind_problems(data: LabeledData, loader: DataLoader, subject: Subject) -> list[str]:
    """``input_spec["kind"]`` names the loader's kind (or one of the core's), and the encoder is that kind's."""
    spec = data.input_spec
    name = spec.get("kind") if isinstance(spec, dict) else None
    if not isinstance(name, str):
        return ['input_spec["kind"] is not set; name the input kind, e.g. {"kind": "table"}']
    if loader.kind is not None and name != loader.kind.name:
        return [f'input_spec["kind"] is {name!r}, but the loader declares kind {loader.kind.name!r}']
    kind = loader.kind or resolved_kind(name, subject)
    if kind is None:
        known = ", ".join(sorted({*CORE_KINDS, *subject.plugins.input_kinds}))
        return [f'input_spec["kind"] {name!r} is no known input kind ({known}); declare it with DataLoader(kind=...)']
    expected = kind.encoder
    if expected is None and data.encoder is not None:
        return [f"kind {name!r} has no encoder, but the loader attached a {type(data.encoder).__name__}"]
    if expected is not None and type(data.encoder) is not expected:  # a subclass too: bundles rebuild the kind's class
        return [f"kind {name!r} needs a {expected.__name__} as encoder, got {type(data.encoder).__name__}"]
    return []


def resolved_kind(name: str, subject: Subject) -> InputKind | None:
    """The input kind called ``name``, the core's or one the subject's plugins declare (``None``: no such kind)."""
    try:
        return input_kind(name, subject.plugins)
    except VautomlError:
        return None
