"""report.html and report.md: content, escaping of user strings, and a real render in headless Chromium."""

from __future__ import annotations

import html
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import plugins_with

from vertical_automl import search
from vertical_automl.report import markdown

HOSTILE_COLUMN = "<img src=x onerror=alert(1)>"
HOSTILE_CLASS = '<script>alert("x")</script>'
PIPE_CLASS = "$5 | up *now*"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A real search on a table whose column and class names are HTML, Markdown and mathtext.

    The test table vertical's scoring section puts the class names in a table of its own too.
    """
    from throwaway_verticals.table import TINY_SCORED

    folder = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 3))
    y = np.where(x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=240) > 0, HOSTILE_CLASS, PIPE_CLASS)
    table = pd.DataFrame({HOSTILE_COLUMN: x[:, 0], "a|b": x[:, 1], "$x$ & _y_": x[:, 2], "outcome": y})
    table.to_csv(folder / "odd names.csv", index=False)
    return search(
        "tiny-scored",
        folder / "odd names.csv",
        plugins=plugins_with(TINY_SCORED),
        max_trials=2,
        epochs=3,
        registry=folder / "registry",
        run_name="odd",
    )


def test_report_html_escapes_every_user_string(hostile_run):
    page = (hostile_run.path / "report.html").read_text()
    assert "<script" not in page and "<img src=x" not in page  # both only as escaped text
    assert html.escape(HOSTILE_CLASS) in page and html.escape(HOSTILE_COLUMN) in page and "odd names.csv" in page
    assert len(re.findall(r"<img ", page)) == len(list((hostile_run.path / "plots").glob("*.png")))
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]*)"', page))
    assert "http://" not in page and "https://" not in page  # nothing to fetch: the page works offline


def test_report_markdown_twin_keeps_tables_intact(hostile_run):
    text = (hostile_run.path / "report.md").read_text()
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)  # code blocks show names literally, as code
    assert markdown.escape(HOSTILE_CLASS) in prose and not re.search(r"(?<!\\)<", prose)
    for table in re.findall(r"((?:^\|.*\|\n)+)", text, flags=re.M):
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(widths) == 1, table  # an unescaped | in a cell would add a column
    for link in re.findall(r"\]\((plots/[^)]+)\)", text):
        assert (hostile_run.path / link).stat().st_size > 1000
    assert "## Leaderboard" in text and "## Model card" in text and "### Use it without vertical-automl" in text


def test_report_contents_follow_the_run(hostile_run):
    run, report = hostile_run.path, hostile_run.report
    text = (run / "report.md").read_text()
    trials = report["search"]["trials"]["total"]
    leaderboard = text.split("## Leaderboard", 1)[1].split("##", 1)[0]
    assert (
        len([row for row in leaderboard.splitlines() if row.startswith("| ") and "---" not in row]) == 1 + trials
    )  # header + one row per trial
    assert f"{report['test_metrics']['binary']['roc_auc']:.4f}" in text
    assert sorted(p.name for p in (run / "plots").iterdir()) == [
        "confusion_matrix.png",
        "learning_curves.png",
        "roc_precision_recall.png",
        "score_by_hyperparameter.png",
    ]
    history = report["model"]["refit_history"]
    if report["model"]["refit"]:
        epochs = [member["epochs"] for member in report["model"]["ensemble"]]
        assert [len(h["history"]["loss"]) for h in history] == epochs
    else:  # cross-validated: the fold models are exported as they trained, and no refit has curves of its own
        assert history == [] and report["search"]["settings"]["folds"] > 1


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium package)")
def test_report_renders_in_headless_chromium(hostile_run):
    seen = render(hostile_run.path / "report.html")
    assert seen["problems"] == []
    assert seen["images"] and all(width > 100 and height > 100 for width, height in seen["images"])
    assert seen["images_in_html"] == len(seen["images"]) == 4
    assert seen["scripts"] == 0 and seen["broken_links"] == []
    assert HOSTILE_CLASS in seen["text"] and HOSTILE_COLUMN in seen["text"]  # shown as text, not run as markup
    assert seen["title"] == "vautoml report: tiny-scored run odd"


def render(path) -> dict:
    """Open ``path`` in the system Chromium; report decoded images, console or page errors, and any network request."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda message: (
                    problems.append(f"console {message.type}: {message.text}")
                    if message.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on(
                "request",
                lambda request: (
                    problems.append(f"request: {request.url}")
                    if not request.url.startswith(("file:", "data:"))
                    else None
                ),
            )
            page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
            page.goto(path.as_uri(), wait_until="load")
            seen = page.evaluate("""() => ({
                images: Array.from(document.images).filter(i => i.complete).map(i => [i.naturalWidth, i.naturalHeight]),
                images_in_html: document.images.length,
                scripts: document.scripts.length,
                broken_links: Array.from(document.querySelectorAll('a[href^="#"]'))
                    .map(a => a.getAttribute('href'))
                    .filter(h => !document.getElementById(h.slice(1))),
                text: document.body.innerText,
                title: document.title,
            })""")
        finally:
            browser.close()
    return {**seen, "problems": problems}
