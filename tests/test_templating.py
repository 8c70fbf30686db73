"""The HTML templates: found as package data, every value escaped, tables as the pages draw them."""

from __future__ import annotations

import math

import pytest
from jinja2 import UndefinedError

from qsdaqec.reports.html import table
from qsdaqec.templating import environment, fmt, render


def test_every_template_loads_from_the_package():
    names = environment().list_templates()
    for name in (
        "page.html.j2",
        "macros.html.j2",
        "noise_report.html.j2",
        "run_report.html.j2",
        "explain_index.html.j2",
    ):
        assert name in names
        environment().get_template(name)  # parses


def test_values_are_escaped_and_markup_of_the_template_is_not():
    figures = [
        {
            "file": 'x"><script>alert(1)</script>.png',
            "where": "a/<b>bold</b>&co.png",
            "frame": None,
            "predicted": "stenosis",
            "p": 0.8,
            "label": "normal",
            "wrong": True,
        }
    ]
    page = render(
        "explain_index.html.j2", layer="<i>layer</i>", circles=False, wrong=1, figures=figures
    )
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;&amp;co.png" in page and "&lt;i&gt;layer&lt;/i&gt;" in page
    assert '<figure class="wrong">' in page and "<b class='wrong'>wrong: label normal</b>" in page
    assert "(p 0.80)" in page


def test_a_missing_value_fails_the_render_instead_of_leaving_a_gap():
    with pytest.raises(UndefinedError):
        render("explain_index.html.j2", layer="x", circles=False, wrong=0)


def test_tables_format_and_escape_their_cells():
    t = table(
        [("name", "name <th>"), ("v", "value")],
        [{"name": "<x>", "v": 0.12345}, {"name": "n", "v": math.nan}],
        row_class=lambda r: "bad" if r["name"] == "n" else None,
        row_id=lambda r: r["name"],
        wrap=("name",),
    )
    page = render("macros.html.j2")  # the macros alone render nothing
    assert page.strip() == ""
    html = environment().get_template("macros.html.j2").module.grid(t)
    assert "<th>name &lt;th&gt;</th>" in html
    assert '<tr id="&lt;x&gt;"><td class="wrap">&lt;x&gt;</td><td>0.123</td></tr>' in html
    assert '<tr class="bad" id="n"><td class="wrap">n</td><td>–</td></tr>' in html
    assert fmt(None) == "–" and fmt(True) == "yes" and fmt(3) == "3"
