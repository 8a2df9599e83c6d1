"""An error is said once (2026-12-06; the test failed on the pages before the fix): every refusal of /geoff, /cnn and
/practice went into its alert box (role="alert") and, with a prefix, into the polite status line (#status) too, so a
screen reader said it twice ("no result: ...", "no prediction: ...", "no example: ...", /cnn's explanations,
"not checked: ...", "no variant: ...", "no step: ..."). Now the alert box says it and the status line is emptied
(DL.showError, docs/serve.md's Accessibility). /sort too, since 2026-12-06: its refusal stood in its panel's body,
which is not live, and the status line said it ("no answer: ..."); now the alert box of its model's panel says it.

The oracle is a MutationObserver, installed before the page's own scripts run, that records each text every live
region and every alert box takes (its id and text): the error's text must be in exactly one of them, all along and
at the end."""

from __future__ import annotations

import json

import pytest

from .browser import EXAMPLE_Q, LIVE, ready, said_listener
from .test_browser import _seven

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

ERROR_MS = 15_000


def _said_once(page, box: str, region: str | None = None) -> str:
    """The error shown in `box` (once it has one): every region that said its text, all along and now, is `region`
    (the alert box itself, by default)."""
    page.wait_for_function("(box) => document.querySelector(box).textContent.trim() !== ''", arg=box, timeout=ERROR_MS)
    error = page.text_content(box).strip()
    region = region or box.lstrip("#")
    said = page.evaluate("() => window.__said")
    spoke = sorted({rid for rid, text in said if error in text})
    assert spoke == [region], f"{error!r} was said by {spoke}: {said}"
    now = page.eval_on_selector_all(LIVE, "(els, error) => els.filter((e) => e.textContent.includes(error))"
                                          ".map((e) => e.id)", error)
    assert now == [region], now
    return error


@pytest.fixture
def listening(page):
    page.watch.refusals_expected = True
    page.add_init_script(said_listener())
    return page


def _forget(page) -> None:
    page.evaluate("() => { window.__said = []; }")


def _opened(page, path: str):
    """`path` opened and ready, what its loading said forgotten: what is said from here is the test's."""
    page.goto(f"{page.base}{path}")
    ready(page)
    _forget(page)
    return page


# ---- /geoff ---------------------------------------------------------------------------------------------------------

def test_geoff_an_input_it_cannot_read_is_said_once(listening):
    page = listening
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}")
    ready(page)
    assert page.text_content("#status").startswith("computed for")
    _forget(page)
    page.fill("#seq", "D A E <START> A")
    page.wait_for_selector("body[data-state=error]", timeout=ERROR_MS)
    error = _said_once(page, "#error")
    assert "E" in error and page.text_content("#status") == ""  # no stale "computed for ..." either
    # a link's refused weights, from the page's first moment
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&W_V=1e400,3;1,2;2,1;3,0")
    page.wait_for_selector("body[data-state=error]", timeout=ERROR_MS)
    assert "the link's W_V" in _said_once(page, "#error")


def test_geoff_a_refused_gradient_step_is_said_once(listening):
    page = listening
    _opened(page, f"/geoff?{EXAMPLE_Q}")
    page.fill("#lr", "abc")
    page.click("#step")
    assert "learning rate" in _said_once(page, "#step-error")


def test_geoff_a_cell_it_cannot_explain_is_said_once(listening):
    page = listening
    _opened(page, f"/geoff?{EXAMPLE_Q}")
    page.fill("#explain-cell", "no such cell")
    page.press("#explain-cell", "Enter")
    _said_once(page, "#explain-error")


# ---- /cnn -----------------------------------------------------------------------------------------------------------

def test_cnn_a_file_that_is_no_image_is_said_once(listening):
    page = listening
    _opened(page, "/cnn")
    page.set_input_files("#upload", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"}])
    page.wait_for_selector("body[data-state=error]", timeout=ERROR_MS)
    assert "notes.txt" in _said_once(page, "#error")


def test_cnn_an_example_the_server_refuses_is_said_once(listening):
    """The examples list and the example itself from the page's routes: no shared data needed."""
    page = listening
    examples = {"sets": [{"set": "svhn_dev", "title": "SVHN crop", "available": True}], "digits": [0, 1], "needs": None}
    page.route("**/api/svhn/examples", lambda r: r.fulfill(status=200, content_type="application/json",
                                                            body=json.dumps(examples)))
    refusal = {"error": "no example of 1 here", "field": "digit"}
    page.route("**/api/svhn/example?*", lambda r: r.fulfill(status=404, content_type="application/json",
                                                             body=json.dumps(refusal)))
    page.goto(f"{page.base}/cnn")
    ready(page)
    page.wait_for_selector("body[data-examples='svhn_dev']")
    _forget(page)
    page.select_option("#example", "svhn_dev:1")
    page.click("#example-go")
    page.wait_for_selector("body[data-state=error]", timeout=ERROR_MS)
    assert "no example of 1 here" in _said_once(page, "#error")


def test_cnn_an_explanation_it_cannot_give_is_said_once(listening):
    page = listening
    _opened(page, "/cnn")
    page.press("#explain-at", "Enter")  # nothing drawn yet: the page refuses
    assert "draw a digit" in _said_once(page, "#explain-error")
    page.fill("#explain-at", "0,x")
    page.press("#explain-at", "Enter")
    page.wait_for_function("() => document.getElementById('explain-error').textContent.startsWith('at:')")
    assert "whole numbers" in _said_once(page, "#explain-error")


def test_cnn_a_layer_table_number_it_does_not_have_is_said_once(listening):
    page = listening
    page.goto(f"{page.base}/cnn?number=conv9.output")
    _said_once(page, "#table-explain-error")


def test_cnn_a_link_whose_explanation_is_refused_still_says_its_prediction(listening):
    """A link with img= and an explain= the server refuses: until 2026-12-06 the status line said the prediction and,
    one round trip later, was emptied by the refusal (DL.showError), so the prediction was never heard."""
    page = listening
    page.goto(f"{page.base}/cnn?img={_seven()}&explain=conv1:9,0,0")  # conv1 has 8 maps, 0 to 7
    page.wait_for_selector("body[data-predictions='1']", timeout=ERROR_MS)
    page.wait_for_function("() => document.getElementById('explain-error').textContent !== ''", timeout=ERROR_MS)
    _said_once(page, "#explain-error")
    prediction = f"prediction: {page.text_content('#digit')}, {page.text_content('#p-best')}"
    assert page.text_content("#status") == prediction  # the text the status line is left with, so said
    statuses = [text for rid, text in page.evaluate("() => window.__said") if rid == "status"]
    assert statuses[-1] == prediction, statuses


def test_cnn_a_link_with_an_explanation_says_its_prediction_with_it(listening):
    """The same link with an explanation the server gives: the status line said the prediction, then, one round trip
    later, the explanation alone in its place."""
    page = listening
    page.goto(f"{page.base}/cnn?img={_seven()}&explain=conv1:0,12,9")
    page.wait_for_selector("#explain-panel[data-at='conv1:0,12,9']", timeout=ERROR_MS)
    prediction = f"prediction: {page.text_content('#digit')}, {page.text_content('#p-best')}"
    value = page.text_content("#explain-value")
    assert page.text_content("#status") == f"{prediction}; conv1[0, 12, 9] = {value}"


def _held(page, pattern: str) -> list:
    """The answers to requests matching `pattern` held back (their routes kept here) until _release."""
    held = []
    page.route(pattern, lambda route: held.append(route))
    return held


def _release(page, held: list) -> None:
    while not held:  # the request is on its way (the page asks it once its own first answer is in)
        page.wait_for_timeout(20)
    for route in held:
        route.continue_()


@pytest.mark.parametrize("late", ["table", "prediction"])
@pytest.mark.parametrize("number", ["conv2.output", "conv9.output"])
def test_cnn_a_links_table_number_and_prediction_are_said_whatever_answers_first(listening, late, number):
    """A link with img= and a layer table number= (explained, or refused: conv9 is no layer): the status line ends
    saying the prediction with the number's explanation, or the prediction alone after the alert box says the
    refusal, whichever request answers first. Until 2026-12-06 each said its own text: a number explained after the
    prediction replaced it (never heard), one refused after it emptied the status line. The order is forced here: one
    answer is held back until the other is on the page."""
    page = listening
    held = _held(page, "**/api/svhn/model/explain?*" if late == "table" else "**/api/svhn/predict")
    page.goto(f"{page.base}/cnn?img={_seven()}&number={number}")
    explained = f"#table-explain[data-number='{number}']"
    refused = "() => document.getElementById('table-explain-error').textContent !== ''"
    table = (lambda: page.wait_for_selector(explained, timeout=ERROR_MS)) if number == "conv2.output" else (
        lambda: page.wait_for_function(refused, timeout=ERROR_MS))
    predicted = lambda: page.wait_for_selector("body[data-predictions='1']", timeout=ERROR_MS)  # noqa: E731
    first, then = (predicted, table) if late == "table" else (table, predicted)
    first()
    _release(page, held)
    then()
    prediction = f"prediction: {page.text_content('#digit')}, {page.text_content('#p-best')}"
    if number == "conv2.output":
        want = f"{prediction}; {page.text_content('#table-explain-title')}"  # the panel's "title = number"
    else:
        _said_once(page, "#table-explain-error")
        want = prediction
    assert page.text_content("#status") == want
    statuses = [text for rid, text in page.evaluate("() => window.__said") if rid == "status"]
    assert statuses[-1] == want, statuses


# ---- /practice ------------------------------------------------------------------------------------------------------

def test_practice_nothing_to_check_is_said_once(listening):
    page = listening
    _opened(page, "/practice?seed=3")
    page.click("#check")
    page.wait_for_selector("body[data-state=error]", timeout=ERROR_MS)
    assert "nothing to check" in _said_once(page, "#error")


def test_practice_a_check_the_server_does_not_answer_is_said_once(listening):
    page = listening
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    page.route("**/api/practice/check", lambda r: r.abort("connectionrefused"))
    page.fill("#in-Pr1\\.1\\.rf", "5")
    _forget(page)
    page.click("#check")
    page.wait_for_selector("body[data-state=error]", timeout=ERROR_MS)
    assert "the server did not answer" in _said_once(page, "#error")
    page.watch.errors = [e for e in page.watch.errors if "ERR_CONNECTION_REFUSED" not in e]  # the refused route's


def test_practice_a_variant_it_cannot_draw_is_said_once(listening):
    page = listening
    page.goto(f"{page.base}/practice?seed=abc")
    page.wait_for_selector("body[data-state=error]", timeout=ERROR_MS)
    assert "seed" in _said_once(page, "#error")


# ---- /sort: a model's refusal in the alert box of its panel, an input's once -----------------------------------------

def test_sort_a_models_refusal_is_said_once_by_its_panels_alert_box(listening):
    """Until 2026-12-06 the compiled solver's refusal was written into its panel's body (not live) and the status line
    said it, "no answer: ...": the one page whose refusal no alert box said."""
    from dlexam.errors import UserError
    from dlexam.sorting.sorter import load_sorter

    with pytest.raises(UserError) as cli:
        load_sorter("A-D").decoding_temperature(0.5)  # what `dlexam sort --temperature 0.5` says
    page = listening
    page.goto(f"{page.base}/sort?seq=D+A+A&T=0.5")
    page.wait_for_selector("#compiled[data-state=error]", timeout=ERROR_MS)
    page.wait_for_selector("#trained[data-state=ready]", timeout=ERROR_MS)
    error = _said_once(page, "#compiled-error")
    assert error == f"compiled solver: {cli.value}"  # named: test_sort_each_alert_names_the_model_that_refused
    # beside the model it is about: an alert box inside the compiled solver's panel, none in the other's
    assert page.eval_on_selector("#compiled-error", "e => e.closest('section').id + ' ' + e.getAttribute('role')") == \
        "compiled alert"
    assert page.text_content("#trained-error") == "" and page.text_content("#error") == ""
    answer = page.get_attribute("#trained", "data-output") or "(empty)"
    assert page.text_content("#status") == f"trained model: {answer}"  # an answer, the one model that gave one


def test_sort_the_trained_models_refusal_stands_in_its_own_panel(listening):
    page = listening
    page.goto(f"{page.base}/sort?seq=D+A+E&vocab=A-Z")  # E: in the compiled solver's A-Z, not in the trained A-D
    page.wait_for_selector("#trained[data-state=error]", timeout=ERROR_MS)
    error = _said_once(page, "#trained-error")
    assert error.startswith("trained model: ") and "'E'" in error
    assert page.get_attribute("#compiled", "data-output") == "A D E"  # sorted(set(D A E))
    assert page.text_content("#compiled-error") == "" and page.text_content("#status") == "compiled solver: A D E"
    _forget(page)
    page.click("#next")  # stepping through the compiled solver's answer does not say the refusal again
    page.wait_for_function("() => document.getElementById('step-label').textContent.startsWith('step 2')")
    assert not [said for said in page.evaluate("() => window.__said") if error in said[1]]
    assert page.text_content("#trained-error") == error


def test_sort_an_input_both_models_refuse_is_said_once(listening):
    """Both models refuse "X" in the same words: one alert box says it, the input's, not one per panel."""
    page = listening
    page.goto(f"{page.base}/sort?seq=D+A+X")
    page.wait_for_selector("#compiled[data-state=error]", timeout=ERROR_MS)
    page.wait_for_selector("#trained[data-state=error]", timeout=ERROR_MS)
    assert "'X'" in _said_once(page, "#error")
    assert page.text_content("#compiled-error") == page.text_content("#trained-error") == ""
    assert page.text_content("#status") == ""


def test_sort_each_alert_names_the_model_that_refused(listening):
    """A screen reader says an alert box's text, not the heading of the panel it stands in: until 2026-12-06 both
    panels' alerts said their refusals ("'E' is not ...", "temperature 0.5 does not apply ...") without which model
    refused. Now each alert's own text starts with its model's name, the panel's heading (the oracle), as it is said."""
    page = listening
    page.goto(f"{page.base}/sort?seq=D+A+E&vocab=A-Z&T=0.5")  # the compiled solver refuses T, the trained model E
    page.wait_for_selector("#compiled[data-state=error]", timeout=ERROR_MS)
    page.wait_for_selector("#trained[data-state=error]", timeout=ERROR_MS)
    for panel in ("compiled", "trained"):
        name = page.text_content(f"#{panel} h2").strip().lower()  # "compiled solver", "trained model"
        error = _said_once(page, f"#{panel}-error")
        said = page.evaluate("() => window.__said")
        assert error.startswith(f"{name}: "), (panel, error)
        assert [text for rid, text in said if rid == f"{panel}-error"] == [error]  # said once, with its name
    assert page.text_content("#error") == "" and page.text_content("#status") == ""  # no answer to say
