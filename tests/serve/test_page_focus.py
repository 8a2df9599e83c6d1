"""Where the keyboard focus and the screen reader's announcements go on /practice and /cnn, and what /cnn's URL keeps
(2026-12-06, four defects; each test failed on the pages before the fix):

- /practice: "check" left the focus where it was, so a keyboard or screen reader user did not land on the score; now
  the result summary (tabindex -1, its accessible name the result) takes it, and only from where "check" was
  pressed: not at load, nor from a student who went on to another field while the answer was on its way;
- /practice: Enter on a choice's radio button did nothing, where Enter in a one-line answer checks the sheet;
- /cnn: the pad's cursor line and the prediction were two polite live regions, spoken in no defined order (or at
  once); now the page has one, the status line: each keyboard move's cursor line, then the prediction after it;
- /cnn: the URL kept the example's image (`img`) but not which example it was; now `example` is kept and read back
  (the select shows it), and a value that is no example of this server is passed over, as a bad `img` is.

Oracles: `dlexam grade` (the score and the right, wrong and missing answers, counted here from its FieldResults), the
variant's key, and the example file found here with os.listdir (test_cnn_examples.first_file)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from dlexam.spec import text
from dlexam.variants import make_variant
from dlexam.variants.grade import grade

from .browser import POLITE, counter, params, ready, said_listener
from .test_practice import fill, key_answers

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

FOCUSED = "() => document.activeElement ? document.activeElement.id : null"
# Holds the answers of POST /api/practice/check while window.__hold is set, until the test releases them: the student
# can do something else while a check is on its way.
HOLD_CHECKS = """(() => {
  const fetch0 = window.fetch.bind(window);
  window.__held = [];
  window.fetch = (url, opts) => (window.__hold && String(url).includes('/api/practice/check'))
    ? new Promise((resolve) => window.__held.push(() => resolve(fetch0(url, opts))))
    : fetch0(url, opts);
})();"""


def _escape(aid: str) -> str:
    return aid.replace(".", "\\.")


def _result_texts(v, answers: dict) -> tuple[str, str]:
    """What the result must say, from `dlexam grade`: the score line and the count of right, wrong, missing."""
    g = grade(v, {**answers, "seed": v.seed})
    right = sum(r.correct for r in g.fields)
    missing = len(g.missing)
    wrong = len(g.fields) - right - missing
    score = f"score {float(g.score):g} of {float(g.max_score):g} (exactly {text(g.score)})"
    count = f"{right} of {len(g.fields)} answers right, {wrong} wrong, {missing} not answered"
    return score, count


def _name(page, sel: str) -> str:
    """The accessible name Chromium computes for `sel` (the DevTools protocol's accessibility tree)."""
    cdp = page.context.new_cdp_session(page)
    try:
        doc = cdp.send("DOM.getDocument", {"depth": 0})
        node = cdp.send("DOM.querySelector", {"nodeId": doc["root"]["nodeId"], "selector": sel})
        tree = cdp.send("Accessibility.getPartialAXTree", {"nodeId": node["nodeId"], "fetchRelatives": False})
        return tree["nodes"][0]["name"]["value"]
    finally:
        cdp.detach()


def _answers(v) -> dict:
    """Problem 1's key with one wrong number (so there is a mark below) and nothing else."""
    answers = {k: a for k, a in key_answers(v).items() if k.startswith("Pr1.")}
    answers["Pr1.3.in_features"] = "1"
    return answers


@pytest.mark.parametrize("how", ["click", "enter"])
def test_practice_check_moves_the_focus_to_the_result(page, how):
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    assert page.evaluate(FOCUSED) in ("", None)  # the page opens with nothing focused: no result to land on
    v = make_variant(3)
    answers = _answers(v)
    fill(page, answers)
    n = counter(page, "checked")
    if how == "click":
        page.click("#check")
    else:
        page.press(f"#in-{_escape('Pr1.3.in_features')}", "Enter")
    ready(page, checked=n + 1)
    score, count = _result_texts(v, answers)
    assert page.evaluate(FOCUSED) == "result"
    assert page.get_attribute("#result", "tabindex") == "-1" and page.is_visible("#result")
    name = _name(page, "#result")
    assert name.startswith(f"result of the check: {score}; ") and name.endswith(
        f"{count}: the wrong ones are marked below"), name
    # the score and the count are two clauses: "... graded by a person 0 of 7 answers right" read as one (2026-12-07)
    assert f"; {count}" in name and page.text_content("#result-score").endswith(";"), name
    assert page.text_content("#result-score").startswith(score)
    assert page.text_content("#status") == ""  # the focus says it: the live region does not say it again
    # a reload, a new variant and Back bring no result to land on, and take no focus
    page.reload()
    ready(page)
    assert page.evaluate(FOCUSED) in ("", None) and not page.is_visible("#result")
    assert "last checked" in page.text_content("#status")
    page.click("#new")
    ready(page)
    assert page.evaluate(FOCUSED) == "new" and not page.is_visible("#result")


def _check_on_its_way(page):
    """/practice (seed 3) answered with the key and "check" pressed, its answer held back (HOLD_CHECKS) until the
    test lets it go: (the variant, the answers, the checked counter before)."""
    page.add_init_script(HOLD_CHECKS)
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    v = make_variant(3)
    answers = _answers(v)
    fill(page, answers)
    n = counter(page, "checked")
    page.evaluate("() => { window.__hold = true; }")
    page.click("#check")
    page.wait_for_function("() => window.__held.length === 1")
    return v, answers, n


def test_practice_result_leaves_the_focus_where_the_student_went_meanwhile(page):
    """A student who Tabs on while the check is on its way keeps the focus there; the status line says the score."""
    v, answers, n = _check_on_its_way(page)
    page.focus(f"#in-{_escape('Pr1.1.rf')}")
    page.evaluate("() => { window.__hold = false; window.__held.forEach((go) => go()); }")
    ready(page, checked=n + 1)
    score, _ = _result_texts(v, answers)
    assert page.evaluate(FOCUSED) == "in-Pr1.1.rf"
    assert page.is_visible("#result") and page.text_content("#status").startswith(score)
    # a check whose answer nothing overtook, from the field it was pressed in: the result takes the focus
    page.press(f"#in-{_escape('Pr1.1.rf')}", "Enter")
    ready(page, checked=n + 2)
    assert page.evaluate(FOCUSED) == "result"


def test_practice_result_leaves_the_focus_alone_after_a_click_on_text(page):
    """A click on text that takes no focus (the page's lead paragraph) while the check is on its way moves the focus
    from "check" to the body: until 2026-12-06 the result then took the focus all the same (the body counted as "still
    there") and the page jumped from what the student had clicked to read. Now it stays; the status line says it."""
    v, answers, n = _check_on_its_way(page)
    assert page.evaluate(FOCUSED) == "check"
    page.click("p.lead")
    assert page.evaluate("() => document.activeElement === document.body")  # the text took no focus
    page.evaluate("() => { window.__hold = false; window.__held.forEach((go) => go()); }")
    ready(page, checked=n + 1)
    score, _ = _result_texts(v, answers)
    assert page.evaluate("() => document.activeElement === document.body")
    assert page.is_visible("#result") and page.text_content("#status").startswith(score)


def test_practice_enter_on_a_radio_button_checks_as_in_a_text_field(page):
    """Enter in a one-line answer checks the sheet (test_practice); on a radio button it did nothing. Now it checks,
    as a form's Enter does, without choosing the radio it is pressed on."""
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    v = make_variant(3)
    key = key_answers(v)
    answers = {"Pr1.3.in_features": key["Pr1.3.in_features"], "P1.1.choice": key["P1.1.choice"]}
    fill(page, answers)  # clicks P1.1's right option: the focus is on that radio
    assert page.evaluate("() => document.activeElement.type") == "radio"
    n = counter(page, "checked")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"body[data-state=ready][data-checked='{n + 1}']", timeout=10_000)
    assert page.locator(f"#field-{_escape('P1.1.choice')}.right").count() == 1
    score, _ = _result_texts(v, answers)
    assert page.text_content("#result-score").startswith(score)
    # Enter on a radio of a group with none chosen checks too, and chooses nothing
    other = "P1.4.choice"
    page.focus(f"input[name='{other}'][value='1']")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"body[data-state=ready][data-checked='{n + 2}']", timeout=10_000)
    assert page.locator(f"input[name='{other}']:checked").count() == 0
    assert "not answered" in page.text_content(f"#fb-{_escape(other)}")
    assert page.text_content("#result-score").startswith(score)  # the same answers, the same score


# ---- /cnn: one live region -------------------------------------------------------------------------------------

def test_cnn_keyboard_drawing_speaks_through_one_live_region(page):
    """The pad's cursor line (#pad-where) and the prediction (#status) were both polite live regions: a key's cursor
    line and, 300 ms later, the prediction were two regions' news, in no set order. Now the status line is the one:
    each key's cursor line, then the prediction, in that order; #pad-where still writes the cursor under the pad."""
    page.goto(f"{page.base}/cnn")
    ready(page)
    polite = page.eval_on_selector_all(POLITE, "(els) => els.map((e) => e.id)")
    assert polite == ["status"]
    page.evaluate(said_listener(POLITE))  # role=alert left out: no error is made here
    page.focus("#pad")
    assert page.text_content("#pad-where") == "cursor: row 1, column 1 of 16, blank"  # written, not said: the focus
    keys = ["ArrowRight", "ArrowRight", "ArrowRight", "Space", *["Shift+ArrowDown"] * 4, "ArrowLeft"]
    for key in keys:
        page.keyboard.press(key)
    page.wait_for_function("() => document.body.dataset.state === 'ready' && document.body.dataset.predictions")
    page.wait_for_function("() => window.__said.some(([, t]) => t.startsWith('prediction: '))")
    cursor = [(1, 2, "blank"), (1, 3, "blank"), (1, 4, "blank"), (1, 4, "inked"), (2, 4, "inked"), (3, 4, "inked"),
              (4, 4, "inked"), (5, 4, "inked"), (5, 3, "blank")]
    want = [["status", f"cursor: row {r}, column {c} of 16, {ink}"] for r, c, ink in cursor]
    digit, best = page.text_content("#digit"), page.text_content("#p-best")
    said = page.evaluate("() => window.__said")
    assert said == [*want, ["status", f"prediction: {digit}, {best}"]]
    assert page.text_content("#pad-where") == "cursor: row 5, column 3 of 16, blank"
    page.evaluate("() => { window.__said = []; }")
    page.keyboard.press("Escape")  # no key of the pad's: nothing said
    assert page.evaluate("() => window.__said") == []


# ---- /cnn: the example in the URL ---------------------------------------------------------------------------------

@pytest.mark.needs_shared("data", "svhn-real-dev")
@pytest.mark.needs_shared("data", "chars74k-digits")
def test_cnn_url_keeps_the_example_and_a_link_shows_it_chosen(page, shared_dir):
    from dlexam.svhn.data.images import read_image

    from .test_browser import _shown, _stroke
    from .test_cnn_examples import first_file
    from .test_pages import _image_of

    page.goto(f"{page.base}/cnn")
    ready(page)
    page.wait_for_selector("body[data-examples='svhn_dev chars74k']")
    page.select_option("#example", "svhn_dev:3")
    page.click("#example-go")
    ready(page, example="svhn_dev:3")
    assert params(page)["example"] == "svhn_dev:3"
    image, shown = _image_of(page), _shown(page)

    page.goto(page.url)  # reloaded, or the link opened elsewhere: the same input, that example chosen
    ready(page, predictions=1, example="svhn_dev:3")
    page.wait_for_selector("body[data-examples='svhn_dev chars74k']")
    assert page.eval_on_selector("#example", "e => e.value") == "svhn_dev:3"
    assert params(page)["example"] == "svhn_dev:3"
    assert _image_of(page).tolist() == image.tolist() and _shown(page) == shown

    n = counter(page, "predictions")  # a drawing is no example: the URL and the page stop saying it is
    _stroke(page, [(0.3, 0.3), (0.6, 0.3), (0.45, 0.8)], steps=6)
    page.wait_for_function(f"() => document.body.dataset.state === 'ready' && "
                           f"Number(document.body.dataset.predictions) > {n}")
    assert "example" not in params(page) and page.get_attribute("body", "data-example") is None

    # a link with an example and no image shows that example (its file, as "show example" sends it)
    page.goto(f"{page.base}/cnn?example=chars74k:7")
    ready(page, example="chars74k:7")
    assert page.eval_on_selector("#example", "e => e.value") == "chars74k:7"
    assert _image_of(page).tolist() == read_image(first_file(shared_dir, "chars74k", 7)).tolist()
    assert params(page)["example"] == "chars74k:7"


@pytest.mark.parametrize("bad", ["svhn_dev:33", "svhn_dev", "mnist:3", "svhn_dev:3:1", "svhn_dev%3A-1", "",
                                 "%3Cb%3E"])
def test_cnn_url_example_that_is_none_is_passed_over(page, bad):
    """As a malformed img is (the page shows nothing and says nothing): an example this server does not have is
    neither chosen nor fetched; beside a good img the drawing is shown, and the URL loses the example with it.
    (Without the shared folder every example is one it does not have.)"""
    from .test_browser import _seven

    page.goto(f"{page.base}/cnn?img={_seven()}&example={bad}")
    ready(page, predictions=1)
    page.wait_for_selector("body[data-examples]")
    assert page.get_attribute("body", "data-example") is None and "example=" not in urlparse(page.url).query
    assert page.text_content("#error") == "" and page.text_content("#digit") != "?"
    page.goto(f"{page.base}/cnn?example={bad}")
    ready(page)
    page.wait_for_selector("body[data-examples]")
    page.wait_for_timeout(300)
    assert page.get_attribute("body", "data-example") is None and page.text_content("#digit") == "?"
    assert page.text_content("#error") == ""
    assert not [u for u in page.watch.requests if "/api/svhn/example?" in u]
