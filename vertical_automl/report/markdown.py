"""Render report blocks as Markdown, escaping every text in them.

This is the one place the core writes Markdown from text: ``report.md``, the
model card and the vertical sections in both.  Blocks hold plain text, user
strings included, and everything here is escaped, so a class or column name
like ``[x](javascript:alert(1))``, ``<img ...>`` or ``a|b`` shows as itself
instead of becoming a link, raw HTML, formatting or an extra table column.
"""

from __future__ import annotations

import re

from .document import Block, Bullets, Code, Facts, Figure, Heading, MarkdownText, Paragraph, Table

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!$])")
_BLOCK_START = re.compile(r"^(?:(\d{1,9})(?=[.)])|(?=[-+=]))")  # would open a list, a setext heading or a rule
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
PLOTS_FOLDER = "plots"


def escape(text: object) -> str:
    """``text`` as literal Markdown: punctuation with a meaning is backslash-escaped, newlines become spaces."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


def _starting(text: object) -> str:
    """``text`` escaped to open a line: also a leading ``-``, ``+``, ``=`` or ``1.`` must stay literal."""
    return _BLOCK_START.sub(r"\1\\", escape(text).lstrip(), count=1)


def _code(code: Code) -> str:
    """A fenced block whose fence is longer than any run of backticks inside, so nothing can close it early."""
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", code.text)), default=0))
    language = re.sub(r"[^A-Za-z0-9_+-]", "", code.language)
    return f"{fence}{language}\n{code.text.rstrip()}\n{fence}"


def shift_headings(markdown: str, by: int) -> str:
    """Demote every ATX heading outside code fences by ``by`` levels, to nest a document inside another."""
    shifted, fence = [], ""
    for line in markdown.splitlines():
        opening = _FENCE.match(line)
        if fence:
            closing = line.strip()
            if opening and set(closing) == {fence[0]} and len(closing) >= len(fence):
                fence = ""
        elif opening:
            fence = opening.group(1)
        elif re.match(r"#{1,6} ", line):
            line = "#" * by + line
        shifted.append(line)
    return "\n".join(shifted)


def render(blocks: list[Block], title: str, subtitle: str = "") -> tuple[str, dict[str, bytes]]:
    """The Markdown text and the plot files it links to (relative paths → PNG bytes)."""
    parts, files = [f"# {escape(title)}"] + ([f"*{escape(subtitle)}*"] if subtitle else []), {}
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * block.level} {escape(block.text)}")
        elif isinstance(block, Paragraph):
            parts.append(_starting(block.text))
        elif isinstance(block, Bullets):
            parts.append("\n".join(f"- {_starting(item)}" for item in block.items))
        elif isinstance(block, Facts):
            parts.append("\n".join(f"- **{escape(label)}:** {escape(value)}" for label, value in block.items))
        elif isinstance(block, Table):
            parts.append(_table(block))
        elif isinstance(block, Code):
            parts.append(_code(block))
        elif isinstance(block, Figure):
            path = f"{PLOTS_FOLDER}/{block.name}.png"
            files[path] = block.png
            parts.append(f"![{escape(block.caption)}]({path})\n\n*{escape(block.caption)}*")
        elif isinstance(block, MarkdownText):
            parts.append(block.markdown.strip())
        else:
            raise TypeError(f"unknown report block {block!r}")
    return "\n\n".join(parts) + "\n", files


def _table(table: Table) -> str:
    def row(cells: list[str], bold: bool) -> str:
        shown = [escape(cell) for cell in cells]
        if bold:
            shown = [f"**{cell}**" if cell else cell for cell in shown]
        return "| " + " | ".join(shown) + " |"

    rule = "| " + " | ".join("---:" if i in table.numeric else "---" for i in range(len(table.columns))) + " |"
    lines = [f"*{escape(table.caption)}*", ""] if table.caption else []
    lines += [
        row(table.columns, False),
        rule,
        *(row(cells, i in table.highlight) for i, cells in enumerate(table.rows)),
    ]
    return "\n".join(lines)
