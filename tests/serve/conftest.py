"""One `dlexam serve` per test process (pytest-xdist worker), with a trained sorter beside the compiled one."""

from __future__ import annotations

import pytest

from .client import Server, train_tiny_sorter


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


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright (tests/serve/browser.py); skips, saying why, where either is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip "
                                                                  "install -e '.[dev]')")
    from .browser import launch

    with sync_api.sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


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
