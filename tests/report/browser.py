"""Check the report in a real browser: headless Chromium, driven from the command line.

`check_page(index_html, width=...)` copies the page into a scratch folder with a small script
appended, loads the copy in headless Chromium (`--dump-dom`), and reads back what the script
measured in the laid-out page:

- every report section (its id, title, status, and whether it holds an error box), and whether
  every table-of-contents link points at an element of the page;
- every image: loaded (`complete`), decoded (`naturalWidth > 0`), and embedded (a data: URI);
- every box that overflows: content wider (or taller) than its element (`scrollWidth >
  clientWidth`), or an element reaching past the edges of the window;
- every resource the page fetched from outside itself (there should be none).

The page itself carries no script; only the scratch copy does.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
RESULT_ID = "dlexam-browser-check"

CHECK_SCRIPT = r"""
<script>
(function () {
  function describe(el) {
    var s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (typeof el.className === "string" && el.className) {
      s += "." + el.className.trim().split(/\s+/).join(".");
    }
    var sec = el.closest("section");
    var text = (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 60);
    return {element: s, section: sec ? sec.id : null, text: text};
  }
  function inlineLike(display) {
    return display === "inline" || display === "contents" || display === "none" || display === "table-row" ||
      display === "table-row-group" || display === "table-header-group" || display === "table-column" ||
      display === "table-column-group";
  }
  function run() {
    var root = document.documentElement;
    var width = root.clientWidth;
    var out = {viewport_width: width, document_scroll_width: root.scrollWidth,
               sections: [], toc_targets_missing: [], images: [], overflows: [], resources: [], narrow_cells: []};
    document.querySelectorAll("section.report-section").forEach(function (sec) {
      var h2 = sec.querySelector("h2");
      out.sections.push({id: sec.id, title: h2 ? h2.textContent : null, status: sec.dataset.status,
                         error_boxes: sec.querySelectorAll(".error-box").length,
                         error_box_heights: Array.prototype.map.call(sec.querySelectorAll(".error-box"),
                           function (b) { return b.getBoundingClientRect().height; }),
                         images: sec.querySelectorAll("img").length,
                         height: sec.getBoundingClientRect().height});
    });
    document.querySelectorAll("nav.toc a[href^='#']").forEach(function (a) {
      var target = a.getAttribute("href");
      if (!document.getElementById(target.slice(1))) out.toc_targets_missing.push(target);
    });
    document.querySelectorAll("img").forEach(function (img, i) {
      var sec = img.closest("section");
      out.images.push({index: i, section: sec ? sec.id : null, complete: img.complete,
                       natural_width: img.naturalWidth, natural_height: img.naturalHeight,
                       shown_width: img.getBoundingClientRect().width,
                       embedded: img.getAttribute("src").indexOf("data:image/") === 0, alt: img.alt});
    });
    // a box that scrolls sideways (a wide table's wrapper) may hold wider content, and what it holds may reach
    // past the window: the reader scrolls it
    function scrollsSideways(el) {
      var x = getComputedStyle(el).overflowX;
      return x === "auto" || x === "scroll";
    }
    document.querySelectorAll("body, body *").forEach(function (el) {
      if (el.id === "%(result_id)s") return;
      var cs = getComputedStyle(el);
      if (cs.display === "none") return;
      for (var up = el.parentElement; up; up = up.parentElement) { if (scrollsSideways(up)) return; }
      var r = el.getBoundingClientRect();
      if (r.width > 0 && (r.right > width + 1 || r.left < -1)) {
        var d = describe(el); d.problem = "outside the window";
        d.left = r.left; d.right = r.right; d.window = width;
        out.overflows.push(d);
      }
      if (!inlineLike(cs.display) && el.clientWidth > 0) {
        if (el.scrollWidth > el.clientWidth + 1 && !scrollsSideways(el)) {
          var d2 = describe(el); d2.problem = "content wider than its box";
          d2.scroll_width = el.scrollWidth; d2.client_width = el.clientWidth; out.overflows.push(d2);
        }
        if (el !== document.body && el.scrollHeight > el.clientHeight + 1 && cs.overflowY !== "visible") {
          var d3 = describe(el); d3.problem = "content taller than its scrolling box";
          d3.scroll_height = el.scrollHeight; d3.client_height = el.clientHeight; out.overflows.push(d3);
        }
      }
    });
    if (root.scrollWidth > width + 1) out.overflows.push({element: "html", section: null, text: "",
      problem: "page wider than the window", scroll_width: root.scrollWidth, window: width});
    // table cells squeezed so narrow that their words break letter by letter (an audit: "5.647e-16" down a cell)
    out.narrow_cells = [];
    document.querySelectorAll("td, th").forEach(function (c) {
      var w = c.getBoundingClientRect().width, text = c.textContent.trim();
      if (getComputedStyle(c).display !== "none" && w > 0 && w < 40 && text.length > 3) {
        var sec = c.closest("section");
        out.narrow_cells.push({section: sec ? sec.id : null, text: text.slice(0, 30), width: w});
      }
    });
    // a table value broken across lines inside a word or number ("0.77" / "6", "sigmoi" / "d"): a line break
    // between two letters, digits or a point, where no hyphen or space allows one (an audit, 2026-12-07); a
    // column header broken between two letters or digits ("activa" / "tion"; after "_", "/" or "@" it may break);
    // and a number's exponent cut from its number after its sign ("-1.55e-" / "03": the browser breaks after a
    // hyphen-minus, an audit, 2026-12-07)
    out.broken_values = brokenWords("td", /[\w.]/);
    out.broken_headers = brokenWords("th", /[A-Za-z0-9.]/);
    function brokenWords(selector, inWord) {
      var found = [];
      document.querySelectorAll(selector).forEach(function (c) {
        if (getComputedStyle(c).display === "none") return;
        var walker = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);
        for (var n = walker.nextNode(); n; n = walker.nextNode()) {
          var top = null;
          for (var i = 0; i < n.data.length; i++) {
            var r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
            var rect = r.getClientRects()[0];
            if (!rect || !/\S/.test(n.data[i])) { top = null; continue; }
            if (top !== null && rect.top > top + 2 && (inWord.test(n.data[i - 1]) && inWord.test(n.data[i]) ||
                /\de[-+]$/i.test(n.data.slice(Math.max(0, i - 3), i)) && /\d/.test(n.data[i]))) {
              var sec = c.closest("section"), m = /\S*$/.exec(n.data.slice(0, i))[0] + /^\S*/.exec(n.data.slice(i))[0];
              found.push({section: sec ? sec.id : null, word: m, width: c.getBoundingClientRect().width});
            }
            top = rect.top;
          }
        }
      });
      return found;
    }
    performance.getEntriesByType("resource").forEach(function (e) { out.resources.push(e.name); });
    var pre = document.createElement("pre");
    pre.id = "%(result_id)s";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  // At "load" every image has loaded or failed: complete and naturalWidth are final.
  window.addEventListener("load", run);
})();
</script>
""".replace("%(result_id)s", RESULT_ID)


class BrowserUnavailable(RuntimeError):
    """No Chromium on this machine (or it cannot start): the browser checks cannot run."""


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable, or None. $DLEXAM_CHROMIUM overrides."""
    env = os.environ.get("DLEXAM_CHROMIUM")
    if env:
        return shutil.which(env) or (env if Path(env).is_file() else None)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_command(chromium: str, profile: Path, width: int, height: int) -> list[str]:
    return [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
        "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
        "--virtual-time-budget=15000",
    ]


def run_chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrowserUnavailable(f"chromium did not run: {exc}") from exc


def check_page(index_html: str | os.PathLike, *, width: int = 1280, height: int = 900,
               chromium: str | None = None, timeout: float = 120.0) -> dict:
    """Load the page in headless Chromium at a window `width` and return the measurements (see module doc)."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise BrowserUnavailable("no chromium executable found (scripts/ensure-chromium.sh installs it)")
    text = Path(index_html).read_text(encoding="utf-8")
    if "</body>" not in text:
        raise ValueError(f"{index_html} has no </body>")
    with tempfile.TemporaryDirectory(prefix="dlexam-browser-") as tmp:
        copy = Path(tmp) / "index.html"
        copy.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>", 1), encoding="utf-8")
        args = chromium_command(chromium, Path(tmp) / "profile", width, height)
        proc = run_chromium([*args, "--dump-dom", copy.as_uri()], timeout)
    m = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', proc.stdout, re.S)
    if m is None:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise BrowserUnavailable(
            f"chromium gave no check results (exit {proc.returncode}): {' | '.join(tail)}"
        )
    return json.loads(html.unescape(m.group(1)))


@contextlib.contextmanager
def playwright_tab(width: int, height: int):
    """A Playwright page of that size in headless Chromium, or a skip saying why there is none."""
    import pytest

    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (scripts/ensure-chromium.sh installs Debian's chromium as root)")
    with sync_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        except Exception as exc:  # noqa: BLE001 - any launch failure means: no browser here
            pytest.skip(f"Chromium did not start: {str(exc).splitlines()[0]}")
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
