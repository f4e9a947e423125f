"""Report building blocks, independent of any one bundle.

* :mod:`.sections`: the evaluation a vertical's report sections receive, and ``ReportSection``;
* :mod:`.document`: the plain-text blocks (paragraphs, tables, figures) a report is made of;
* :mod:`.markdown` and :mod:`.html`: the two renderers, which escape every text;
* :mod:`.plots`: the figures (matplotlib, headless).

A bundle's own report is assembled from these in :mod:`vertical_automl.bundle.report`.
"""
