"""The report as a list of blocks, written once and rendered twice.

``report.html`` and ``report.md`` are twins because both come from the same
blocks (:mod:`.html` and :mod:`.markdown` render them).  Text in a block is
plain text, user strings included; each renderer escapes it for its format,
so no builder has to remember to, and a name like ``[x](javascript:...)`` or
``<img ...>`` is shown as the text it is.  A vertical's report sections are
made of these blocks too (:data:`SECTION_BLOCKS`).  :class:`MarkdownText` is
the one block that carries Markdown, for Markdown the core itself wrote (the
model card, rendered from blocks like these): the HTML renderer parses it with
raw HTML switched off.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    """A bulleted list of sentences."""

    items: list[str]


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
class Code:
    """Verbatim text, such as the model card's Python; ``language`` names it for syntax highlighting."""

    text: str
    language: str = ""


@dataclass(frozen=True)
class MarkdownText:
    """Trusted Markdown written by the core; user strings in it must already be escaped."""

    markdown: str


Block = Heading | Paragraph | Bullets | Facts | Table | Code | Figure | MarkdownText

SECTION_BLOCKS = (Paragraph, Bullets, Facts, Table, Code)
"""What a vertical's report section may hold: plain text only, so the core escapes all of it for each format."""
