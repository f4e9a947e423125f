"""Render report blocks as Markdown, and escape user strings for Markdown.

Plugins use :func:`escape` too, for the class and column names they put in
their report sections' lines, so a name like ``a|b`` or ``*x*`` cannot break
a table or turn into formatting.
"""

from __future__ import annotations

import re

from .document import Block, Facts, Figure, Heading, MarkdownText, Paragraph, Table

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")
PLOTS_FOLDER = "plots"


def escape(text: object) -> str:
    """``text`` as literal Markdown: punctuation with a meaning is backslash-escaped, newlines become spaces."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


def shift_headings(markdown: str, by: int) -> str:
    """Demote every ATX heading outside code fences by ``by`` levels, to nest a document inside another."""
    shifted, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            line = "#" * by + line
        shifted.append(line)
    return "\n".join(shifted)


def render(blocks: list[Block], title: str, subtitle: str) -> tuple[str, dict[str, bytes]]:
    """The Markdown text and the plot files it links to (relative paths → PNG bytes)."""
    parts, files = [f"# {escape(title)}", f"*{escape(subtitle)}*"], {}
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {escape(block.text)}")
        elif isinstance(block, Paragraph):
            parts.append(escape(block.text))
        elif isinstance(block, Facts):
            parts.append("\n".join(f"- **{escape(label)}:** {escape(value)}" for label, value in block.items))
        elif isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, Figure):
            path = f"{PLOTS_FOLDER}/{block.name}.png"
            files[path] = block.png
            parts.append(f"![{escape(block.caption)}]({path})\n\n*{escape(block.caption)}*")
        elif isinstance(block, MarkdownText):
            parts.append(block.markdown.strip())
    return "\n\n".join(parts) + "\n", files


def _table(table: Table) -> str:
    def row(cells: list[str], bold: bool) -> str:
        shown = [escape(cell) for cell in cells]
        if bold:
            shown = [f"**{cell}**" if cell else cell for cell in shown]
        return "| " + " | ".join(shown) + " |"

    rule = "| " + " | ".join("---:" if i in table.numeric else "---" for i in range(len(table.columns))) + " |"
    lines = [f"*{escape(table.caption)}*", ""] if table.caption else []
    lines += [row(table.columns, False), rule, *(row(cells, i in table.highlight) for i, cells in enumerate(table.rows))]
    return "\n".join(lines)
