"""Debian's headless Chromium for the browser tests (Playwright drives it):
where it is, how it is started, and what the tests read back from a page."""

import contextlib
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Recorded in the page before any of its own scripts run.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@contextlib.contextmanager
def watched_page(browser, **context_options):
    """A page in a new context that records console errors and warnings and
    page errors in ``page.problems``, and CSP violations (``csp_violations``)."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.problems = []
    page.on(
        "console",
        lambda message: (
            message.type in ("error", "warning")
            and page.problems.append(f"console {message.type}: {message.text} {message.location}")
        ),
    )
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    try:
        yield page
    finally:
        context.close()


def csp_violations(page):
    return page.evaluate("window.__cspViolations")


def serious_accessibility_violations(page):
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} "
        + "; ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
