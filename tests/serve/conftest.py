"""One `dlexam serve` per test process (pytest-xdist worker), with a trained sorter beside the compiled one."""

from __future__ import annotations

from pathlib import Path

import pytest

from .client import Server, train_tiny_sorter

SERVE_TESTS = Path(__file__).parent
# the fixtures of tests that run an event loop in this thread: test_in_process.py's app, driven with asyncio.run
NEEDS_FREE_LOOP = frozenset({"app_state"})


@pytest.fixture(scope="session")
def sort_run(tmp_path_factory):
    return train_tiny_sorter(tmp_path_factory.mktemp("sort-run") / "run")


@pytest.fixture(scope="session")
def server(sort_run):
    s = Server("--sort-checkpoint", str(sort_run))
    yield s
    rc = s.stop()
    assert rc in (0, 130), s.stderr
    assert "Traceback" not in s.stderr, s.stderr


class Chromium:
    """One Chromium for the test files of tests/serve that use it (each used to launch its own: about a second each,
    17 files). It stays open across the tests of tests/serve that do not use it, and is closed before a test
    elsewhere, before a test that runs an event loop in this thread (NEEDS_FREE_LOOP: test_in_process.py's app,
    also driven from test_geoff_own_heads.py), and at the session's end: while Playwright's sync API is open its
    event loop counts as running in this thread, so asyncio.run and a second sync_playwright (tests/report's) would
    fail; they never meet it. (Until 2026-12-08 it was closed before every test of another file that did not ask
    for it, and launched again for the next file that did.) A file starts with no context of an earlier file's
    open (one left by a failed test)."""

    def __init__(self):
        self.playwright = None  # the entered sync_playwright() context manager
        self.browser = None
        self.module = None  # the test file that last asked for it
        self.skipped: str | None = None  # why Chromium could not start: said once, then by every test asking

    def get(self, module):
        if self.skipped is not None:
            pytest.skip(self.skipped)
        if self.browser is not None and not self.browser.is_connected():
            self.close()
        if self.browser is None:
            self.browser = self._launch()
        elif module is not self.module:
            for ctx in list(self.browser.contexts):
                ctx.close()
        self.module = module
        return self.browser

    def _launch(self):
        sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip "
                                                                      "install -e '.[dev]')")
        from .browser import launch

        self.playwright = sync_api.sync_playwright()
        pw = self.playwright.__enter__()
        try:
            return launch(pw)
        except BaseException as exc:
            self.playwright.__exit__(None, None, None)
            self.playwright = None
            if isinstance(exc, pytest.skip.Exception):
                self.skipped = str(exc)
            raise

    def close(self):
        browser, playwright = self.browser, self.playwright
        self.browser = self.playwright = self.module = None
        try:
            if browser is not None and browser.is_connected():
                browser.close()
        finally:
            if playwright is not None:
                playwright.__exit__(None, None, None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        fixtures = set(getattr(item, "fixturenames", ()))
        if self.browser is None or "browser" in fixtures:
            return
        module = getattr(item, "module", None)
        if module is None or Path(module.__file__).parent != SERVE_TESTS or fixtures & NEEDS_FREE_LOOP:
            self.close()

    def pytest_sessionfinish(self):
        self.close()


@pytest.fixture(scope="session")
def serve_chromium(pytestconfig):
    shared = Chromium()
    pytestconfig.pluginmanager.register(shared, "dlexam-serve-chromium")
    yield shared
    shared.close()
    pytestconfig.pluginmanager.unregister(shared)


@pytest.fixture
def browser(serve_chromium, request):
    """Debian's Chromium under Playwright (tests/serve/browser.py); skips, saying why, where either is missing."""
    return serve_chromium.get(request.module)


@pytest.fixture
def page(browser, server):
    """A fresh 1280 px wide page on the test server (page.base is its URL); after the test: nothing left
    127.0.0.1, no console or script error."""
    from .browser import open_page

    ctx, page, watch = open_page(browser, server)
    page.base = f"http://127.0.0.1:{server.port}"
    yield page
    ctx.close()
    watch.check()
