"""Render report blocks as one self-contained HTML page.

Plots are embedded as ``data:`` PNGs and the style sheet is inline, so the
file opens anywhere, offline, by itself.  A Content-Security-Policy allows
nothing but inline styles and data images: the page has no scripts and loads
nothing, and a string that slipped through escaping still could not run.
Every text is escaped with :func:`html.escape`; Markdown blocks (the core's
own model card) are parsed by markdown-it with raw HTML switched off, and
markdown-it drops ``javascript:`` and other unsafe link targets.
"""

from __future__ import annotations

import base64
import html
import re

from markdown_it import MarkdownIt

from .document import Block, Bullets, Code, Facts, Figure, Heading, MarkdownText, Paragraph, Table

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

# A backslash at the end of a line inside STYLE joins it to the next line (the string holds no newline there).
STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; margin: 0; \
background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; color: #d0d7de; }
nav { padding: 8px 32px; background: #fff; border-bottom: 1px solid #d0d7de; position: sticky; top: 0; }
nav a { margin-right: 16px; color: #0969da; text-decoration: none; white-space: nowrap; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 32px 48px; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 4px 24px 16px; margin-top: 20px; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3, h4 { margin-bottom: 6px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 20px; margin: 12px 0; }
dl.facts dt { font-weight: 600; color: #57606a; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 10px 0; font-size: 13px; }
caption { text-align: left; font-style: italic; color: #57606a; padding-bottom: 4px; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.exported td { font-weight: 600; background: #ddf4ff; }
figure { margin: 14px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { color: #57606a; font-size: 13px; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; border-radius: 6px; font-size: 13px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
"""


def render(blocks: list[Block], title: str, subtitle: str) -> str:
    """The whole page; each level-2 heading opens a section linked from the navigation bar."""
    body, links, open_section = [], [], False
    for block in blocks:
        if isinstance(block, Heading) and block.level == 2:
            anchor = block.anchor or _slug(block.text)
            links.append(f'<a href="#{anchor}">{html.escape(block.text)}</a>')
            body.append(("</section>\n" if open_section else "") + f'<section id="{anchor}">')
            open_section = True
        body.append(_block(block))
    if open_section:
        body.append("</section>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>",
            f"<nav>{''.join(links)}</nav>",
            "<main>",
            *body,
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Facts):
        items = "".join(f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>" for label, value in block.items)
        return f'<dl class="facts">{items}</dl>'
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Code):
        return f"<pre><code>{html.escape(block.text)}</code></pre>"
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        caption = html.escape(block.caption)
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{caption}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    if isinstance(block, MarkdownText):
        return f'<div class="scroll">{_MARKDOWN.render(block.markdown)}</div>'
    raise TypeError(f"unknown report block {block!r}")


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(column)}</th>" for column in table.columns)
    rows = []
    for index, cells in enumerate(table.rows):
        tds = "".join(
            f'<td class="num">{html.escape(cell)}</td>' if i in table.numeric else f"<td>{html.escape(cell)}</td>"
            for i, cell in enumerate(cells)
        )
        rows.append(f'<tr class="exported">{tds}</tr>' if index in table.highlight else f"<tr>{tds}</tr>")
    caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    return (
        f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
