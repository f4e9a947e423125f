"""The report as a list of blocks, written once and rendered twice.

``report.html`` and ``report.md`` are twins because both come from the same
blocks (:mod:`.html` and :mod:`.markdown` render them).  Text in a block is
plain text, user strings included; each renderer escapes it for its format,
so no builder has to remember to.  :class:`MarkdownText` is the one block that
carries Markdown (a vertical's report section, the model card): the HTML
renderer parses it with raw HTML switched off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Facts:
    """Label/value pairs, such as the run summary or the headline metrics."""

    items: list[tuple[str, str]]


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    numeric: frozenset[int] = field(default_factory=frozenset)  # column indexes aligned right
    highlight: frozenset[int] = field(default_factory=frozenset)  # row indexes shown in bold (the exported trials)


@dataclass(frozen=True)
class Figure:
    """A PNG plot: embedded in the HTML, written beside the Markdown as ``plots/<name>.png``."""

    name: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class MarkdownText:
    markdown: str


Block = Union[Heading, Paragraph, Facts, Table, Figure, MarkdownText]
