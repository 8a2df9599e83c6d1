"""The browser tests' shared parts: Debian's Chromium driven by Playwright, what a page did besides what the test
asked (requests elsewhere, console and script errors), and small readers of the page's state."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

CHROMIUM = os.environ.get("DLEXAM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions"]
EXAMPLE = "D A A <START> A D <STOP>"
EXAMPLE_Q = "seq=D+A+A+%3CSTART%3E+A+D+%3CSTOP%3E"
WAIT_MS = int(os.environ.get("DLEXAM_BROWSER_WAIT_MS", "30000"))  # shorter to see failures quickly


POLITE = "[aria-live]:not([aria-live=off]), [role=status], [role=log]"  # the live regions a screen reader says politely
LIVE = POLITE + ", [role=alert]"  # and the alert boxes, which it says at once


def said_listener(regions: str = LIVE) -> str:
    """A script (for page.add_init_script, or page.evaluate once the page is up) that records in window.__said every
    text the elements matching `regions` take: [region id, its whole text], once per change. What a screen reader is
    asked to say, and by which region."""
    return """(() => {
  window.__said = [];
  const live = REGIONS;
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      const region = el && el.closest(live);
      if (!region) continue;
      const last = window.__said[window.__said.length - 1], said = [region.id, region.textContent];
      if (!last || last[0] !== said[0] || last[1] !== said[1]) window.__said.push(said);
    }
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();""".replace("REGIONS", json.dumps(regions))


def launch(pw):
    """Chromium, or a skip saying why not."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (scripts/ensure-chromium.sh installs Debian's chromium)")
    try:
        return pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    except Exception as exc:  # noqa: BLE001 - any launch failure means: no browser here
        pytest.skip(f"Chromium did not start: {str(exc).splitlines()[0]}")

class Watch:
    """What a page did besides what the test asked: requests elsewhere, console errors, script errors."""

    def __init__(self, port: int):
        self.origin = f"127.0.0.1:{port}"
        self.requests: list[str] = []
        self.external: list[str] = []
        self.errors: list[str] = []
        self.refusals_expected = False  # a test of a refused input: the browser logs each 4xx answer as an error

    def console(self, m) -> None:
        if m.type == "error":
            self.errors.append(f"console {m.type}: {m.text}")

    def route(self, route):
        url = route.request.url
        self.requests.append(url)
        if urlparse(url).netloc != self.origin:
            self.external.append(url)
            return route.abort()
        return route.continue_()

    def check(self):
        assert self.requests, "the route log saw no request at all"
        assert not self.external, f"requests left 127.0.0.1: {self.external}"
        refused = "the server responded with a status of 4"
        errors = [e for e in self.errors if not (self.refusals_expected and refused in e)]
        assert not errors, errors


def open_page(browser, server, width: int = 1280):
    ctx = browser.new_context(viewport={"width": width, "height": 1000})
    watch = Watch(server.port)
    ctx.route("**/*", watch.route)
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("console", watch.console)
    page.on("pageerror", lambda e: watch.errors.append(f"page error: {e}"))
    page.watch = watch
    return ctx, page, watch


def ready(page, **attrs):
    sel = "body[data-state=ready]" + "".join(f"[data-{k}='{v}']" for k, v in attrs.items())
    page.wait_for_selector(sel)


def counter(page, name: str) -> int:
    return int(page.evaluate(f"() => Number(document.body.dataset.{name} || 0)"))


def matrix(page, sel: str) -> list[list[str]]:
    return page.eval_on_selector_all(f"{sel} tr", "rows => rows.map(r => Array.from(r.querySelectorAll("
                                                  "'td:not(.corner)')).map(c => c.textContent)).filter(r => r.length)")


def params(page) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}
