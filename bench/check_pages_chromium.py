"""Render report pages in headless Chromium at a desktop width, check their layout, screenshot.

    apt-get install -y chromium && pip install playwright      # never `playwright install`
    python bench/check_pages_chromium.py reports/noise/report.html explain/index.html \\
        runs/tour/report.html --width 1400 --out screenshots/

For each page: no request leaves the file (no network), every <img> has decoded, nothing runs
off the page sideways (the document is no wider than the window), every table and figure lies
within its container, and no text is set smaller than --min-font px. Writes a full-page PNG per
page into --out (look at them: legends and bar labels are pixels in the PNGs, not DOM). Exit 1
on a failed check. Uses the system's Chromium (/usr/bin/chromium; --chromium to point
elsewhere); not run in CI, where the default suite checks the pages' structure instead.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

# Elements wider than their container, and text too small to read, measured in the page.
MEASURE = """([minFont]) => {
  const doc = document.documentElement;
  const out = {scrollWidth: doc.scrollWidth, wide: [], small: [], images: 0, broken: 0};
  for (const el of document.querySelectorAll('table, img, figure, pre')) {
    const box = el.getBoundingClientRect();
    const parent = el.parentElement.getBoundingClientRect();
    if (box.right > parent.right + 1 || box.left < parent.left - 1) {
      out.wide.push(`${el.tagName.toLowerCase()} ${Math.round(box.width)}px in ` +
                    `${Math.round(parent.width)}px`);
    }
  }
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (text && size < minFont) out.small.push(`${el.tagName.toLowerCase()} ${size}px`);
  }
  for (const img of document.images) {
    out.images += 1;
    if (!img.complete || img.naturalWidth === 0) out.broken += 1;
  }
  return out;
}"""


def check(page, path: Path, png: Path, width: int, min_font: float) -> list[str]:
    """Problems of one page (empty: it passes); writes its screenshot."""
    outside: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(("file:", "data:")) else outside.append(r.url)
    )
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    m = page.evaluate(MEASURE, [min_font])
    page.screenshot(path=str(png), full_page=True)
    problems = [f"request leaves the file: {u}" for u in outside]
    if m["scrollWidth"] > width:
        problems.append(f"page is {m['scrollWidth']} px wide, more than the {width} px window")
    problems += [f"wider than its container: {w}" for w in m["wide"]]
    problems += [f"text below {min_font} px: {s}" for s in sorted(set(m["small"]))]
    if m["broken"]:
        problems.append(f"{m['broken']} of {m['images']} images did not decode")
    print(f"{path}: {m['images']} images, {m['scrollWidth']} px wide -> {png}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pages", type=Path, nargs="+")
    ap.add_argument("--width", type=int, default=1400, help="window width in px")
    ap.add_argument("--out", type=Path, default=Path("screenshots"), help="folder for the PNGs")
    ap.add_argument("--min-font", type=float, default=11.0, help="smallest readable text, px")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=args.chromium,
            args=[
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        for i, path in enumerate(args.pages):
            page = browser.new_page(viewport={"width": args.width, "height": 900})
            png = args.out / f"{i}_{path.parent.name}_{path.stem}.png"
            problems = check(page, path, png, args.width, args.min_font)
            for p in problems:
                print(f"  FAIL {p}")
            failed += bool(problems)
            page.close()
        browser.close()
    print(f"{len(args.pages) - failed} of {len(args.pages)} page(s) pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
