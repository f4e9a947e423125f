"""User strings cannot become links, images or HTML in model_card.md, report.md or report.html.

Class, target, column and file names are the user's, and a vertical's section titles and blocks carry
them; the core escapes all of it where it writes each format.  The Markdown is parsed with markdown-it
(raw HTML on, as a lenient viewer would) and every link, image and HTML token is accounted for; the
HTML is parsed for tags, attributes and ``javascript:`` targets.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import invoke_vautoml, only_run, plugins_with
from markdown_it import MarkdownIt

from vertical_automl import PluginError, ReportSection, search
from vertical_automl.report import html, markdown
from vertical_automl.report.document import Bullets, Code, Facts, Heading, MarkdownText, Paragraph, Table

CLASSES = ("[x](javascript:alert(1))", "<img src=x onerror=alert(1)>")
COLUMN = "*bold*|pipe"
TARGET = "![t](javascript:t)"
FILE_NAME = "odd [f](javascript:f).csv"
USER_STRINGS = (*CLASSES, COLUMN, TARGET)
HOSTILE = (
    *USER_STRINGS,
    "<script>alert(1)</script>",
    "&lt;b&gt; &#106;",
    "`code`",
    "- item",
    "1. first",
    "# heading",
    "> quote",
    r"a\|b",
    "~~strike~~",
    "$x$",
    "<http://evil.example>",
    "[ref]: javascript:x",
    "_under_ **strong**",
    "=== +1",
)
PAGE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "h1",
    "h2",
    "h3",
    "h4",
    "p",
    "nav",
    "a",
    "main",
    "section",
    "div",
    "table",
    "caption",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "dl",
    "dt",
    "dd",
    "ul",
    "ol",
    "li",
    "figure",
    "figcaption",
    "img",
    "pre",
    "code",
    "strong",
    "em",
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcset"}
PARSER = MarkdownIt("commonmark", {"html": True}).enable("table")


def flat(tokens) -> list:
    """Every token, inline children included."""
    return [part for token in tokens for part in (token, *flat(token.children or []))]


def inline_texts(text: str) -> list[str]:
    """The plain text of each inline run (a paragraph, a heading, a table cell) as a viewer shows it."""
    return [
        "".join(child.content for child in token.children if child.type in ("text", "text_special"))
        for token in PARSER.parse(text)
        if token.type == "inline"
    ]


def assert_no_live_markup(text: str, images: tuple[str, ...] = ()) -> None:
    """No HTML and no links at all; images only the report's own plots."""
    tokens = flat(PARSER.parse(text))
    assert not [t for t in tokens if t.type in ("html_block", "html_inline", "link_open")], text
    assert sorted(t.attrGet("src") for t in tokens if t.type == "image") == sorted(images)


class Page(HTMLParser):
    """The tags, attributes and visible text of an HTML page."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_safe_page(page: str) -> Page:
    parsed = Page(page)
    assert {tag for tag, _ in parsed.tags} <= PAGE_TAGS
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)  # no event handlers
        assert URL_ATTRIBUTES & set(attrs) <= {"a": {"href"}, "img": {"src"}}.get(tag, set()), (tag, attrs)
        if tag == "a":
            assert attrs["href"].startswith("#")  # links only to the page's own sections: never javascript:
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
    return parsed


def every_block(text: str, level: int = 2) -> list:
    table = Table([text], [[text]], caption=text)
    return [Heading(text, level), Paragraph(text), Bullets([text]), Facts([(text, text)]), table, Code(text)]


@pytest.mark.parametrize("text", HOSTILE)
def test_every_block_shows_a_user_string_as_itself_in_markdown(text):
    rendered, _ = markdown.render(every_block(text, level=3), text, text)
    assert_no_live_markup(rendered)
    shown = inline_texts(rendered)
    # title, subtitle, heading, paragraph, bullet, fact (label: value), table caption, header and cell
    assert shown == [text, text, text, text, text, f"{text}: {text}", text, text, text], rendered
    assert [t.content for t in PARSER.parse(rendered) if t.type == "fence"] == [text + "\n"]


@pytest.mark.parametrize("text", HOSTILE)
def test_every_block_shows_a_user_string_as_itself_in_html(text):
    parsed = assert_safe_page(html.render(every_block(text), text, text))
    assert parsed.text.count(text) >= 9


def test_a_code_block_cannot_be_closed_by_its_text_and_keeps_its_lines():
    code = "```\n# not a heading\n````\n~~~"
    rendered, _ = markdown.render([Code(code, "python`x"), Heading("After")], "t")
    assert [(t.info, t.content) for t in PARSER.parse(rendered) if t.type == "fence"] == [("pythonx", code + "\n")]
    shifted = markdown.shift_headings(rendered, 1)
    assert "\n# not a heading\n" in shifted and "\n### After" in shifted


@pytest.mark.parametrize("content", [["- a Markdown line"], [MarkdownText("[x](javascript:x)")], [Heading("inner")]])
def test_a_section_takes_plain_text_blocks_only(content):
    with pytest.raises(PluginError, match="report section 'custom' holds .* which is not one of its block types"):
        ReportSection("custom", "Custom", {}, content)


def test_a_section_name_must_be_plain_as_it_names_files():
    with pytest.raises(PluginError, match="is not a plain name"):
        ReportSection("../../escape", "Custom", {})


@pytest.fixture(scope="module")
def hostile_table(tmp_path_factory) -> Path:
    """A binary table whose class, target, column and file names are Markdown and HTML."""
    folder = tmp_path_factory.mktemp("markdown safety")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(160, 2))
    y = np.where(x[:, 0] + rng.normal(scale=0.5, size=160) > 0, CLASSES[0], CLASSES[1])
    pd.DataFrame({COLUMN: x[:, 0], "plain": x[:, 1], TARGET: y}).to_csv(folder / FILE_NAME, index=False)
    return folder / FILE_NAME


@pytest.fixture(scope="module")
def table_run(hostile_table, tmp_path_factory) -> Path:
    """A CLI run of the test table vertical: a section titled with the positive class, and one of column names."""
    registry = tmp_path_factory.mktemp("table registry")
    done = invoke_vautoml(
        "search",
        "--plugin",
        "tiny-table",
        "--data",
        str(hostile_table),
        "--registry",
        str(registry),
        "--max-trials",
        "1",
        "--epochs",
        "1",
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    return only_run(registry)


@pytest.fixture(scope="module")
def scored_run(hostile_table, tmp_path_factory) -> Path:
    """An in-process run of the test table vertical whose only section is a scoring one (a confusion matrix)."""
    from throwaway_verticals.table import TINY_SCORED

    plugins = plugins_with(TINY_SCORED)
    registry = tmp_path_factory.mktemp("scored registry")
    return search("tiny-scored", hostile_table, plugins=plugins, max_trials=1, epochs=1, registry=registry).path


def check_bundle(run: Path, titles: list[str]) -> None:
    """Both Markdown files and the HTML page show every user string, and nothing in them is live."""
    plots = tuple(f"plots/{p.name}" for p in (run / "plots").glob("*.png"))
    for name, images in (("model_card.md", ()), ("report.md", plots)):
        text = (run / name).read_text()
        assert_no_live_markup(text, images)
        code = [token.content for token in PARSER.parse(text) if token.type == "fence"]  # shows names literally too
        shown = "\n".join([*inline_texts(text), *code])
        for user_string in (*USER_STRINGS, FILE_NAME, *titles):
            assert user_string in shown, (name, user_string)
    page = assert_safe_page((run / "report.html").read_text())
    shown = "".join(page.text)
    for user_string in (*USER_STRINGS, FILE_NAME, *titles):
        assert user_string in shown, user_string


def test_table_bundle_shows_hostile_names_as_text(table_run):
    positive = json.loads((table_run / "report.json").read_text())["dataset"]["classes"][1]
    check_bundle(table_run, [f"Clinical performance (positive class '{positive}', test split)"])
    cells = inline_texts((table_run / "model_card.md").read_text())
    assert COLUMN in cells  # its own cell of the permutation importance table: the | did not split it


def test_scored_bundle_shows_hostile_names_as_text(scored_run):
    check_bundle(scored_run, ["Credit scoring metrics (test split)"])
    cells = inline_texts((scored_run / "report.md").read_text())
    assert f"predicted {CLASSES[0]}" in cells and f"predicted {CLASSES[1]}" in cells  # the scoring section's matrix
