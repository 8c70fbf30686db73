"""Pieces of the self-contained HTML pages: figures as PNG bytes and the tables the templates
draw (``qsdaqec/templates``, rendered by :func:`qsdaqec.templating.render`).

No external assets: styles are inline, figures are ``data:image/png;base64,...`` URIs, so a
report is one file that can be mailed or archived as is.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..templating import fmt


def plt():
    """matplotlib.pyplot on the Agg backend (imported lazily)."""
    import matplotlib  # here: a second to import, and only the plots need it

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as _plt

    return _plt


def fig_png(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes; closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt().close(fig)
    return buf.getvalue()


@dataclass(frozen=True)
class Row:
    cells: list[tuple[str, bool]]  # (text, may wrap)
    cls: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class Table:
    """What the ``grid`` macro of ``macros.html.j2`` draws."""

    head: list[str]
    rows: list[Row]
    cls: str = "grid"


def table(
    columns: Sequence[tuple[str, str]],
    rows: Iterable[dict[str, Any]],
    *,
    row_class: Callable[[dict[str, Any]], str | None] | None = None,
    row_id: Callable[[dict[str, Any]], Any] | None = None,
    wrap: Sequence[str] = (),
    cls: str = "grid",
) -> Table:
    """A table; ``columns`` = ``[(key, header), ...]``, each cell :func:`fmt` of its value;
    ``row_class(row)`` -> css class; ``row_id(row)`` -> the row's id (a link target); ``wrap``:
    columns whose text may wrap (long labels and notes), so that a wide table still fits."""
    return Table(
        head=[h for _, h in columns],
        rows=[
            Row(
                cells=[(fmt(r.get(k)), k in wrap) for k, _ in columns],
                cls=row_class(r) if row_class else None,
                id=str(row_id(r)) if row_id else None,
            )
            for r in rows
        ],
        cls=cls,
    )
