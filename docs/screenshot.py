"""Take docs/screenshot.png: the status page with the demo data, in Debian's
headless Chromium. Run from the repository root: .venv/bin/python docs/screenshot.py

It makes a throwaway site like `make run` does (temporary SQLite file,
migrate, loaddemo, gunicorn on a free loopback port) and removes it after.
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browsers import launch  # noqa: E402
from tests.servers import Site  # noqa: E402


def main():
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as directory:
        site = Site(directory, workers=1)
        site.prepare()
        site.manage("loaddemo")
        site.start()
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(
                    viewport={"width": 900, "height": 1000},
                    device_scale_factor=1,
                    timezone_id="Europe/Amsterdam",
                    locale="en-GB",
                )
                page.goto(site.url + "/")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(ROOT / "docs" / "screenshot.png"), full_page=True)
                browser.close()
        finally:
            site.stop()


if __name__ == "__main__":
    main()
