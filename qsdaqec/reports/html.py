"""Self-contained HTML pieces: escaped tables, inline PNG figures (base64), one page template.

No external assets: styles are inline, figures are ``data:image/png;base64,...`` URIs, so a
report is one file that can be mailed or archived as is.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any


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


def img_tag(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


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


def table(
    columns: Sequence[tuple[str, str]],
    rows: Iterable[dict[str, Any]],
    *,
    row_class: Any = None,
    row_id: Any = None,
    wrap: Sequence[str] = (),
    cls: str = "grid",
) -> str:
    """An HTML table; ``columns`` = ``[(key, header), ...]``; ``row_class(row)`` -> css class;
    ``row_id(row)`` -> the row's id (a link target); ``wrap``: columns whose text may wrap
    (long labels and notes), so that a wide table still fits the page."""
    head = "".join(f"<th>{esc(h)}</th>" for _, h in columns)
    body = []
    for r in rows:
        klass = row_class(r) if row_class else None
        attr = f' class="{esc(klass)}"' if klass else ""
        attr += f' id="{esc(row_id(r))}"' if row_id else ""
        cells = "".join(
            f'<td class="wrap">{esc(fmt(r.get(k)))}</td>'
            if k in wrap
            else f"<td>{esc(fmt(r.get(k)))}</td>"
            for k, _ in columns
        )
        body.append(f"<tr{attr}>{cells}</tr>")
    return (
        f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;
color:#1d2330;line-height:1.45;padding:0 16px}
h1{font-size:1.5em;margin-bottom:0.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccd}
.meta{color:#556;font-size:0.9em}
.conclusion{background:#eef5ff;border-left:4px solid #2a6bd1;padding:10px 16px;margin:16px 0}
.conclusion li{margin:4px 0}
table.grid{border-collapse:collapse;font-size:0.82em;margin:8px 0}
table.grid th,table.grid td{border:1px solid #ccd;padding:3px 6px;text-align:right;white-space:nowrap}
table.grid th{background:#f0f2f7;position:sticky;top:0;white-space:normal;vertical-align:bottom}
table.grid td.wrap{white-space:normal;text-align:left;min-width:8em;overflow-wrap:break-word}
table.grid td:first-child,table.grid td:nth-child(2){text-align:left}
tr.ref td{background:#f7f7e8} tr.job td{background:#eef9ee} tr.bad td{color:#999}
.figs img{max-width:100%;margin:6px 0;border:1px solid #eee}
.note{color:#556;font-size:0.88em}
code{background:#f3f3f6;padding:0 3px}
"""


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
