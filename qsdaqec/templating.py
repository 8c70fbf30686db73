"""HTML pages from Jinja2 templates (``qsdaqec/templates/*.html.j2``, package data).

Every value is escaped on the way in (autoescape), so a page never carries markup from a run's
names, paths or notes. A template extends ``page.html.j2`` (one self-contained file: inline
styles, figures as ``data:`` URIs) and draws tables with the ``grid`` macro of
``macros.html.j2``. Filters: ``fmt`` (numbers for tables), ``data_uri`` (PNG bytes).
"""

from __future__ import annotations

import base64
import functools
import math
from typing import Any

import jinja2


def fmt(v: Any, digits: int = 3) -> str:
    """Numbers for tables: floats with ``digits`` decimals, NaN/None as an en dash."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.{digits}f}"
    return str(v)


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:`` URI: the figure travels inside the page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("qsdaqec", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the render, not the page
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = fmt
    env.filters["data_uri"] = data_uri
    return env


def render(template: str, **values: Any) -> str:
    """The page ``template`` (a file name under ``qsdaqec/templates``) filled with ``values``."""
    return environment().get_template(template).render(**values)
