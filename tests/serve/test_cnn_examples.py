"""/cnn's examples: one real digit of each class from the development sets in the shared folder (real SVHN crops,
Chars74K photos), served by GET /api/svhn/example as the image file itself and sent back by the page as an upload
is (one preprocessing path, the server's). The file is the first of the digit's folder by sorted name, found here
with os.listdir, and what the page shows is the library's feature_maps on that file read by dlexam's loader (which
for these 32x32 crops is Pillow's own grey conversion). Without the shared folder the control says what it needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .browser import open_page, ready
from .client import Server

SETS = {"svhn_dev": "svhn-real-dev", "chars74k": "chars74k-digits"}


def first_file(shared: Path, set_name: str, digit: int) -> Path:
    """The oracle: the digit's folder listed and sorted by name here, the first PNG (these folders hold PNGs only)."""
    folder = shared / "data" / SETS[set_name] / str(digit)
    return folder / sorted(n for n in os.listdir(folder) if n.endswith(".png") and not n.startswith("."))[0]


@pytest.mark.needs_shared("data", "svhn-real-dev")
@pytest.mark.needs_shared("data", "chars74k-digits")
def test_the_examples_are_listed_and_each_is_the_first_file_of_its_digit(server, shared_dir):
    status, _, d = server.get("/api/svhn/examples")
    assert status == 200 and d["digits"] == list(range(10)) and d["needs"] is None, d
    assert [(s["set"], s["available"]) for s in d["sets"]] == [("svhn_dev", True), ("chars74k", True)], d
    for set_name in SETS:
        for digit in (0, 3, 9):
            status, headers, body = server.get(f"/api/svhn/example?set={set_name}&digit={digit}", raw=True)
            want = first_file(shared_dir, set_name, digit)
            assert status == 200 and headers["content-type"] == "image/png", (set_name, digit, status, body[:200])
            assert body == want.read_bytes(), (set_name, digit)
            assert headers["x-dlexam-example"] == f"{set_name}/{digit}/{want.name}"


@pytest.mark.parametrize(("query", "field"), [
    ("digit=3", "set"),
    ("set=svhn_dev", "digit"),
    ("set=svhn-real-dev&digit=3", "set"),  # the folder's name is not a set's
    ("set=..%2F..%2Fexam&digit=3", "set"),
    ("set=svhn_dev&digit=10", "digit"),
    ("set=svhn_dev&digit=-1", "digit"),
    ("set=svhn_dev&digit=..%2F3", "digit"),
    ("set=svhn_dev&digit=3.0", "digit"),
    ("set=svhn_dev&digit=", "digit"),
    ("set=svhn_dev&digit=3&file=train00003.png", "file"),
])
def test_a_bad_set_or_digit_is_refused_naming_its_field(server, query, field):
    status, _, d = server.get(f"/api/svhn/example?{query}")
    assert status == 400 and d["field"] == field and "\n" not in d["error"], (query, status, d)
    assert field in d["error"], d


def test_the_examples_list_takes_no_field(server):
    status, _, d = server.get("/api/svhn/examples?set=svhn_dev")
    assert status == 400 and d["field"] == "set" and "unknown field 'set'" in d["error"], d


@pytest.mark.needs_shared("data", "svhn-real-dev")
def test_an_example_chosen_by_keyboard_is_the_library_prediction_on_that_file(page, shared_dir):
    """Tab to the examples, pick a 3 of the real SVHN crops with the arrow keys, Tab to "show example", Enter: the
    32x32 input, the digit and the ten probabilities are feature_maps' on the file read by dlexam's image loader, that
    input is Pillow's grey conversion of the file, and the URL's img gives the same numbers in a fresh page."""
    import numpy as np
    from PIL import Image

    from dlexam.svhn.data.images import read_image

    from .test_a11y import axe_violations
    from .test_browser import _library_prediction, _shown
    from .test_keyboard import press, tab_to
    from .test_pages import _image_of

    sent = []
    page.on("request", lambda r: sent.append(r.post_data_buffer) if r.url.endswith("/api/svhn/predict") else None)
    page.goto(f"{page.base}/cnn")
    ready(page)
    page.wait_for_selector("body[data-examples='svhn_dev chars74k']")
    at = tab_to(page, "e.id === 'example'", most=30)
    assert at["tag"] == "SELECT" and page.get_by_role("combobox", name="example", exact=True).count() == 1
    assert page.evaluate("() => document.getElementById('example').value") == "svhn_dev:0"
    press(page, "ArrowDown", "ArrowDown", "ArrowDown")
    assert page.evaluate("() => document.getElementById('example').value") == "svhn_dev:3"
    assert sent == []  # choosing is not yet showing
    assert press(page, "Tab")["id"] == "example-go"
    page.keyboard.press("Enter")
    ready(page, example="svhn_dev:3")

    path = first_file(shared_dir, "svhn_dev", 3)
    assert sent == [path.read_bytes()]  # the file itself, as an upload is sent
    image = _image_of(page)
    assert np.array_equal(image.numpy(), read_image(path).numpy())
    assert np.array_equal(image.numpy(), np.asarray(Image.open(path).convert("L")))  # a 32x32 crop: grey levels only
    lib = _library_prediction(read_image(path))
    digit, probs = _shown(page)
    assert digit == lib["digit"] and probs == pytest.approx(lib["probabilities"], abs=1e-4)
    assert page.text_content("#status").startswith(f"prediction: {digit}, P = ")
    assert page.text_content("#error") == ""
    assert axe_violations(page) == []

    page.goto(page.url)  # the shared link: the same input, the same answer
    ready(page, predictions=1)
    assert _image_of(page).tolist() == image.tolist() and _shown(page) == (digit, probs)


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    """A `dlexam serve` whose shared folder is empty (as a clone without ../shared is)."""
    empty = tmp_path_factory.mktemp("empty-shared")
    s = Server("--workers", "1", env={"DLEXAM_SHARED": str(empty)})  # a pool (as by default) of one: it starts sooner
    s.empty = empty
    yield s
    assert s.stop() in (0, 130), s.stderr
    assert "Traceback" not in s.stderr, s.stderr


def test_without_the_shared_folder_the_examples_say_what_they_need(browser, bare_server):
    from .test_a11y import axe_violations

    status, _, d = bare_server.get("/api/svhn/examples")
    assert status == 200 and not any(s["available"] for s in d["sets"]), d
    assert str(bare_server.empty) in d["needs"] and all(str(bare_server.empty) in s["missing"] for s in d["sets"])
    status, _, d = bare_server.get("/api/svhn/example?set=svhn_dev&digit=3")
    assert status == 503 and d["field"] is None and "shared data" in d["error"] and "\n" not in d["error"], d

    ctx, page, watch = open_page(browser, bare_server)
    page.goto(f"http://127.0.0.1:{bare_server.port}/cnn")
    ready(page)
    page.wait_for_selector("body[data-examples=none]")
    note = page.text_content("#examples-note")
    assert note.startswith("Examples of real digits need the project's shared data folder") and \
        str(bare_server.empty) in note, note
    assert not page.is_visible("#example") and not page.is_visible("#example-go")
    assert page.text_content("#error") == "" and page.get_attribute("body", "data-state") == "ready"
    assert axe_violations(page) == []
    ctx.close()
    watch.check()


def test_example_file_is_the_first_image_by_name_inside_the_shared_data(tmp_path, monkeypatch):
    """In process: the first image by sorted name; a hidden file, a non-image and a link whose file lies outside the
    shared data folder are passed over; a missing set or digit folder is SharedDataMissing, saying where it looked."""
    from dlexam.shared import SharedDataMissing
    from dlexam.svhn.data.realdata import example_file, example_sets

    shared = tmp_path / "shared"
    folder = shared / "data" / "svhn-real-dev" / "3"
    folder.mkdir(parents=True)
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"not yours")
    (folder / "0-link.png").symlink_to(outside)
    for name in ("b.png", "a.PNG", ".0.png", "0.txt"):
        (folder / name).write_bytes(b"x")
    monkeypatch.setenv("DLEXAM_SHARED", str(shared))
    assert example_file("svhn_dev", 3) == folder / "a.PNG"
    assert example_sets() == {"svhn_dev": None, "chars74k": example_sets()["chars74k"]}
    assert str(shared) in example_sets()["chars74k"]
    for set_name, digit in (("svhn_dev", 4), ("chars74k", 3)):
        with pytest.raises(SharedDataMissing, match=str(shared)):
            example_file(set_name, digit)
    for set_name, digit in (("../exam", 3), ("svhn_dev", "3"), ("svhn_dev", 10), ("svhn_dev", True)):
        with pytest.raises(ValueError):
            example_file(set_name, digit)


@pytest.mark.needs_shared("data", "svhn-real-dev")
def test_with_the_examples_shown_the_prediction_stays_beside_the_pad_on_a_desktop(page):
    """The examples' row and note once widened the drawing panel until the prediction wrapped under it, a full-width
    row of very long bars below the fold (1280 px). Their row and note fit the panel now, and the prediction stands
    at the top of the page, beside what the model gets."""
    page.goto(f"{page.base}/cnn")
    ready(page)
    page.wait_for_selector("body[data-examples]")
    box = {sel: page.locator(sel).bounding_box() for sel in ("#draw-panel", "#input-panel", "#prob-panel")}
    assert box["#prob-panel"]["y"] == box["#draw-panel"]["y"] == box["#input-panel"]["y"], box
    assert box["#prob-panel"]["x"] > box["#input-panel"]["x"] > box["#draw-panel"]["x"], box
