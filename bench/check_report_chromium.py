"""Render a run report (or any self-contained page) in headless Chromium and screenshot it.

    apt-get install -y chromium && pip install playwright      # the system's Chromium
    python bench/check_report_chromium.py runs/tour/report.html --png report.png

bench/check_pages_chromium.py checks more (layout at a desktop width, text sizes) and takes
several pages; this one stays for the run report's load check.

Checks that the page loads with no request leaving the file (no network), that every <img> has
decoded (naturalWidth > 0), and writes a full-page screenshot. Exit 1 on a failed check. Not run
in CI (Chromium is a download this project's machines cannot make); the default suite checks
the same page's structure and that every embedded PNG decodes
(tests/experiments/test_run_report.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", type=Path)
    ap.add_argument("--png", type=Path, default=Path("report.png"))
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium"
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on(
            "request",
            lambda req: (
                outside.append(req.url) if not req.url.startswith(("file:", "data:")) else None
            ),
        )
        page.goto(args.page.resolve().as_uri())
        page.wait_for_load_state("load")
        broken = page.evaluate(
            "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length"
        )
        total = page.evaluate("document.images.length")
        page.screenshot(path=str(args.png), full_page=True)
        browser.close()
    print(
        f"{args.page}: {total} images, {broken} broken, {len(outside)} outside requests -> {args.png}"
    )
    return 0 if total and not broken and not outside else 1


if __name__ == "__main__":
    sys.exit(main())
