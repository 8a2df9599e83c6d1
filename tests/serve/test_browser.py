"""The pages in a real browser (Playwright driving the system's Chromium), used as a user would: open a
URL, click, draw, upload; read the numbers off the page and check them against the library.

Every test also checks that the page fetched nothing from anywhere but the app (route interception),
logged no console error, and raised no script error. Skips, saying why, where Chromium or the
playwright package is missing. With DLEXAM_SCREENSHOTS=DIR the page test saves a small PNG of each
page there (docs/serve-*.png are made that way).
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
import torch

from dlexam import geoff
from dlexam.exact import format_exact, fraction_rows

from .browser import EXAMPLE, EXAMPLE_Q, counter, matrix, open_page, params, ready
from .client import Server

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")


def test_geoff_from_a_url_then_temperature_and_heads(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&heads=1")
    ready(page)
    want = geoff.analyse(geoff.GeoffQuery(EXAMPLE, 0.0)).result
    assert matrix(page, "#P-h0") == fraction_rows(want.P)
    for conv in ("teacher_forcing", "exam"):
        assert page.text_content(f"#loss-{conv}") == format_exact(want.loss[conv]["value"])
    assert page.text_content("#loss-exam") == "4.2114"  # the exam's Problem 2.3

    n = counter(page, "rendered")
    page.check("#t-sqrt")
    ready(page, rendered=n + 1)
    want = geoff.analyse(geoff.GeoffQuery(EXAMPLE, "sqrt")).result
    assert matrix(page, "#P-h0") == fraction_rows(want.P)
    assert page.text_content("#loss-teacher_forcing") == format_exact(want.loss["teacher_forcing"]["value"])

    page.check("#heads-2")
    ready(page, rendered=n + 2)
    two = geoff.analyse(geoff.GeoffQuery(EXAMPLE, "sqrt", heads=2))
    assert matrix(page, "#P-h1") == fraction_rows(two.result.P[1])
    assert page.text_content("#loss-exam") == format_exact(two.result.loss["exam"]["value"])
    assert "no" in page.text_content("#same-R")  # Problem 2.4: R is not the same
    assert params(page)["T"] == "sqrt" and params(page)["heads"] == "2"

    page.eval_on_selector("#t-slider", "s => { s.value = '0.5'; s.dispatchEvent(new Event('input')); }")
    ready(page, rendered=n + 3)
    half = geoff.analyse(geoff.GeoffQuery(EXAMPLE, 0.5, heads=2)).result
    assert matrix(page, "#P-h0") == fraction_rows(half.P[0]) and params(page)["T"] == "0.5"


def test_editing_a_weight_keeps_the_focus_and_the_url(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0")
    ready(page)
    n = counter(page, "rendered")
    cell = page.locator('input[aria-label="W_V, row A, column d1"]')
    cell.fill("2.5")
    ready(page, rendered=n + 1)
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "W_V, row A, column d1"
    assert params(page)["W_V"] == "2.5,3;1,2;2,1;3,0"
    w = geoff.GeoffWeights(W_V=((2.5, 3), (1, 2), (2, 1), (3, 0)))
    want = geoff.analyse(geoff.GeoffQuery(EXAMPLE, 0.0, weights=w)).result
    assert matrix(page, "#V-h0") == fraction_rows(want.V) and matrix(page, "#Z-h0") == fraction_rows(want.Z)
    n = counter(page, "rendered")
    page.click("#reset")
    ready(page, rendered=n + 1)
    assert "W_V" not in params(page)


def step_and_read(page) -> dict[str, bool]:
    n = counter(page, "rendered")
    page.click("#step")
    ready(page, rendered=n + 1)
    rows = page.eval_on_selector_all("#step-moved tr[data-matrix]", "rs => rs.map(r => [r.dataset.matrix, "
                                                                    "r.dataset.moved])")
    return {m: moved == "true" for m, moved in rows}


def test_gradient_step_freezes_W_Q_and_W_K_at_T_0(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1")
    ready(page)
    assert step_and_read(page) == {"W_Q": False, "W_K": False, "W_V": True, "W_O": True}
    p = params(page)
    assert "W_Q" not in p and "W_K" not in p and "W_V" in p  # the new weights are the page's state
    grad = geoff.run_geoff(EXAMPLE, temperature=0.0, gradients=True).gradients["W_V"]
    shown = torch.tensor([[float(v) for v in r.split(",")] for r in p["W_V"].split(";")], dtype=torch.float64)
    torch.testing.assert_close(shown, geoff.EXAM_WEIGHTS.tensor("W_V") - 0.1 * grad)

    n = counter(page, "rendered")
    page.check("#t-sqrt")
    ready(page, rendered=n + 1)
    page.click("#reset")
    ready(page, rendered=n + 2)
    assert step_and_read(page) == {"W_Q": True, "W_K": True, "W_V": True, "W_O": True}


def test_sort_step_by_step(page):
    page.goto(f"{page.base}/sort?seq=D+A+A+C&vocab=A-D")
    ready(page)
    produced = lambda: page.get_attribute("#compiled", "data-produced")  # noqa: E731
    assert produced() == "A"
    assert page.locator("#compiled .strip .tok").count() == 5  # D A A C <START>: the first query's prefix
    for _ in range(3):
        page.click("#next")
    assert produced() == "A C D <STOP>"  # sorted(set(D A A C)), then <STOP>
    assert params(page)["step"] == "4"  # "step 4 of 4", as the page says
    weights = page.eval_on_selector_all("#compiled .strip .tok", "ts => ts.map(t => Number(t.title.split(' ')[1]))")
    assert abs(sum(weights) - 1) < 1e-6 and len(weights) == 8
    assert page.get_attribute("#trained", "data-state") == "ready"  # the checkpoint given with --sort-checkpoint
    page.reload()
    ready(page)
    assert produced() == "A C D <STOP>"  # the step is in the URL


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _library_prediction(image: torch.Tensor) -> dict:
    from dlexam.svhn import shipped
    from dlexam.svhn.inference import load_model
    from dlexam.svhn.inspect import feature_maps

    model, _ = load_model(shipped.shipped_path())
    return feature_maps(model, image).to_json()


def _shown(page) -> tuple[int, list[float]]:
    return int(page.text_content("#digit")), [float(page.text_content(f"#p-{k}")) for k in range(10)]


def _stroke(page, points: list[tuple[float, float]], steps: int) -> None:
    """One mouse stroke on the /cnn pad through `points` (fractions of its width and height)."""
    pad = page.locator("#pad")
    pad.scroll_into_view_if_needed()  # a mouse draws on what the window shows
    box = pad.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x0 + points[0][0] * w, y0 + points[0][1] * h)
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(x0 + fx * w, y0 + fy * h, steps=steps)
    page.mouse.up()


def test_cnn_draw_a_stroke_then_upload_a_photo(page):
    from PIL import Image, ImageDraw

    from dlexam.svhn.inspect import read_image_bytes

    page.goto(f"{page.base}/cnn")
    ready(page)
    _stroke(page, [(0.3, 0.2), (0.7, 0.2), (0.6, 0.45), (0.45, 0.85)], steps=6)  # a 7
    ready(page, predictions=1)
    image = torch.tensor(list(base64.urlsafe_b64decode(params(page)["img"] + "==")), dtype=torch.uint8).reshape(32, 32)
    want = _library_prediction(image)
    digit, probs = _shown(page)
    assert digit == want["digit"] and probs == pytest.approx(want["probabilities"], abs=1e-4)
    assert [page.locator(f"#maps-{s} canvas").count() for s in ("conv1", "pool1", "conv2", "pool2")] == [8, 8, 16, 16]

    photo = Image.new("RGB", (80, 120), (235, 225, 200))
    ImageDraw.Draw(photo).ellipse((20, 20, 60, 100), outline=(30, 30, 60), width=10)  # a 0
    data = _png(photo)
    page.set_input_files("#upload", files=[{"name": "zero.png", "mimeType": "image/png", "buffer": data}])
    ready(page, predictions=2)
    want = _library_prediction(read_image_bytes(data))
    digit, probs = _shown(page)
    assert digit == want["digit"] and probs == pytest.approx(want["probabilities"], abs=1e-4)
    assert page.locator("#layer-rows tr").count() == 8  # header, six layers, total (Problem 1's table)

    # the file input offers AVIF where the server's Pillow decodes it (until 2026-12-07 it was refused), and the
    # photo sent as AVIF is predicted as Pillow's decode of it is
    page.wait_for_selector("#upload[accept$=',image/avif']", state="attached")
    assert page.get_attribute("#upload", "accept") == "image/png,image/jpeg,image/gif,image/bmp,image/webp,image/avif"
    buf = io.BytesIO()
    photo.save(buf, format="AVIF", quality=90)
    kinds = []
    page.on("request", lambda r: kinds.append(r.headers.get("content-type")) if r.url.endswith("/predict") else None)
    page.set_input_files("#upload", files=[{"name": "zero.avif", "mimeType": "image/avif", "buffer": buf.getvalue()}])
    ready(page, predictions=3)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        want = _library_prediction(read_image_bytes(_png(im.convert("RGB"))))
    digit, probs = _shown(page)
    assert kinds == ["image/avif"] and digit == want["digit"], (kinds, digit, want["digit"])
    assert probs == pytest.approx(want["probabilities"], abs=1e-4)


def test_cnn_sends_a_drawing_as_the_grey_levels_the_server_would_make_of_the_canvas(page):
    """The page's own grayscale PNG of the pad is, pixel for pixel, what Pillow makes of the canvas's RGBA PNG (so
    the prediction is the same), and it is what the page sends."""
    import numpy as np
    from PIL import Image

    from dlexam.svhn.data.pixels import to_gray

    sent = []
    page.on("request", lambda r: sent.append(r.post_data_buffer) if r.url.endswith("/api/svhn/predict") else None)
    page.goto(f"{page.base}/cnn")
    ready(page)
    _stroke(page, [(0.25, 0.3), (0.5, 0.15), (0.7, 0.35), (0.3, 0.8), (0.75, 0.8)], steps=8)  # a 2, grey edges
    ready(page, predictions=1)
    both = page.evaluate("""async () => {
        const pad = document.getElementById("pad");
        const b64 = async (blob) => btoa(String.fromCharCode(...new Uint8Array(await blob.arrayBuffer())));
        const rgba = await new Promise((ok) => pad.toBlob(ok, "image/png"));
        return [await b64(await grayPng(pad)), await b64(rgba)];
    }""")
    gray_png, rgba_png = (base64.b64decode(x) for x in both)
    gray, rgba = Image.open(io.BytesIO(gray_png)), Image.open(io.BytesIO(rgba_png))
    assert gray.mode == "L" and rgba.mode == "RGBA" and gray.size == rgba.size
    want = to_gray(rgba)
    assert len(np.unique(want)) > 10  # a stroke with antialiased edges, not just black on white
    assert np.array_equal(np.asarray(gray), want)
    assert len(sent) == 1 and Image.open(io.BytesIO(sent[0])).mode == "L"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(sent[0]))), want)


def _seven() -> str:
    """A drawn 7 as the /cnn page's img parameter (32x32 grey levels, base64url)."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (32, 32), 235)
    ImageDraw.Draw(img).line([(9, 7), (23, 7), (14, 27)], fill=25, width=4)
    return base64.urlsafe_b64encode(img.tobytes()).decode().rstrip("=")


def _state_urls() -> dict[str, str]:
    img = _seven()
    return {"index": "/", "geoff": f"/geoff?{EXAMPLE_Q}&T=0&heads=2&grad=1", "sort": "/sort?seq=D+A+A+C+B&step=2",
            "cnn": f"/cnn?img={img}", "geoff-explain": f"/geoff?{EXAMPLE_Q}&T=0&explain=Z[6,1]",
            "practice": "/practice?seed=1", "answers": "/answers"}  # answers last: the test goes on from it


def _for_the_screenshot(page, name: str) -> None:
    """Bring what the page's screenshot shows into view: /geoff's explanation with the cells it came from (the
    attention matrix above it), /practice after a check with one wrong cell (its explanation opened)."""
    if name == "geoff-explain":
        page.eval_on_selector("#P-h0", "t => t.scrollIntoView({block: 'start'})")
    if name == "practice":
        from dlexam.variants import make_variant

        from .test_practice import fill

        key = make_variant(1).key()
        wrong = [list(r) for r in key["Pr2.2.P"]]
        wrong[3][0] = "1/3"
        fill(page, {"Pr2.2.S": key["Pr2.2.S"], "Pr2.2.P": wrong})
        n = int(page.evaluate("() => Number(document.body.dataset.checked || 0)"))
        page.click("#check")
        ready(page, checked=n + 1)
        page.eval_on_selector("#Pr2\\.2", "q => q.scrollIntoView({block: 'start'})")


def overflows(page) -> list[str]:
    return page.evaluate("""() => {
      const bad = [];
      for (const el of [document.documentElement, document.body, ...document.querySelectorAll('.panel')]) {
        const name = el.id || el.tagName;
        if (el.scrollWidth > el.clientWidth + 1) bad.push(`${name}: ${el.scrollWidth} > ${el.clientWidth}`);
      }
      return bad;
    }""")


@pytest.mark.parametrize("width", [500, 1280])
def test_every_page_fits_and_stays_local(browser, server, width, need_shared):
    from dlexam.answers import QUESTION_IDS

    need_shared("exam")  # /answers shows the answer key, which reads the exam text

    shots = os.environ.get("DLEXAM_SCREENSHOTS")
    ctx, page, watch = open_page(browser, server, width)
    page.set_default_timeout(180_000)  # /answers computes the key on first use
    for name, url in _state_urls().items():
        page.goto(f"http://127.0.0.1:{server.port}{url}")
        if name != "index":
            ready(page)
        assert overflows(page) == [], (name, width)
        if name == "answers":
            assert page.locator(".answer").count() == len(QUESTION_IDS)
            assert "heads=2" in page.get_attribute("#Pr2\\.4 a.evidence", "href")
    page.click("#Pr2\\.4 a.evidence")  # the answer's evidence, live
    ready(page)
    assert page.is_checked("#heads-2") and page.locator("#P-h1").count() == 1
    ctx.close()
    watch.check()
    if shots and width == 1280:
        take_screenshots(browser, Path(shots))


def take_screenshots(browser, folder: Path) -> None:
    """docs/serve-*.png: each state of :func:`_state_urls` at 1280 px on a `dlexam serve` as a user starts it, with
    its defaults (the shipped sorter on /sort, where the test server shows a sorter trained for seconds, which gets
    the example wrong)."""
    server = Server()
    try:
        ctx, page, watch = open_page(browser, server, 1280)
        page.set_default_timeout(180_000)
        for name, url in _state_urls().items():
            page.goto(f"http://127.0.0.1:{server.port}{url}")
            if name != "index":
                ready(page)
            _for_the_screenshot(page, name)
            save_screenshot(page, folder / f"serve-{name}.png")
        ctx.close()
        watch.check()
    finally:
        server.stop()


def save_screenshot(page, path: Path) -> None:
    """The window as a palette PNG (small enough for docs/)."""
    from PIL import Image

    img = Image.open(io.BytesIO(page.screenshot(full_page=False))).convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


CELL_TEXT = """() => Array.from(document.querySelectorAll("table.matrix td:not(.corner)")).map(td => {
  const range = document.createRange();
  range.selectNodeContents(td);
  const lines = Array.from(range.getClientRects()).filter(r => r.width > 0), box = td.getBoundingClientRect(),
        text = range.getBoundingClientRect();
  return {table: td.closest("table").id, text: td.textContent, px: parseFloat(getComputedStyle(td).fontSize),
          lines: lines.length, inside: text.left >= box.left - 0.5 && text.right <= box.right + 0.5
            && text.top >= box.top - 0.5 && text.bottom <= box.bottom + 0.5};
})"""


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_geoff_matrix_numbers_are_legible_whole_and_inside_their_cells(browser, server, size):
    """Every number of /geoff's heat-coloured matrices (two heads at T = 0.5, with gradients: the widest numbers,
    such as 7.615e-9) reads at 9 CSS px or more, on one line, inside its cell, at a desktop and a phone width; the
    page does not overflow (a wide matrix scrolls in its own box). On a phone a 7-column P had broken its numbers
    across lines inside their cells ("1.52" over "3e-8", "0.5" over "000")."""
    ctx, page, watch = open_page(browser, server, size[0])
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(f"http://127.0.0.1:{server.port}/geoff?{EXAMPLE_Q}&T=0.5&heads=2&grad=1")
    ready(page)
    cells = page.evaluate(CELL_TEXT)
    assert len(cells) > 300
    small = [c for c in cells if c["px"] < 9]
    broken = [c for c in cells if c["lines"] != 1]
    outside = [c for c in cells if not c["inside"]]
    assert not small and not broken and not outside, (small[:3], broken[:3], outside[:3])
    assert overflows(page) == [], size
    ctx.close()
    watch.check()
