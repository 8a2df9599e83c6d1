"""/practice (issue 20 item 2): a fresh variant answered in Chromium and checked by the grader of `dlexam grade`.

Oracles: the variant's own key (`make_variant(seed).key()`, which `dlexam grade` gives full marks, tests/variants),
`grade` itself for the score of a changed key, and dlexam.geoff.explain for the explanation of a wrong Problem 2
cell (checked there against Fractions and the float64 model)."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest

from dlexam import geoff
from dlexam.geoff.explain import explain
from dlexam.spec import text
from dlexam.variants import make_variant
from dlexam.variants.grade import grade
from dlexam.variants.model import SUBMISSION_META

from .browser import counter, open_page, params, ready
from .test_a11y import axe_violations

WAIT_MS = 30_000


def key_answers(v) -> dict:
    return {k: val for k, val in v.key().items() if k not in SUBMISSION_META}


# ---- the API ---------------------------------------------------------------------------------------------------

def test_the_sheet_is_the_variants_questions(server):
    v = make_variant(5)
    status, _, d = server.get("/api/practice?seed=5")
    assert status == 200 and d["seed"] == 5 and d["difficulty"] == "standard"
    ids = [f["id"] for part in d["parts"] for q in part["questions"] for f in q["fields"]]
    assert ids == list(v.fields())
    p = next(f for part in d["parts"] for q in part["questions"] for f in q["fields"] if f["id"] == "Pr2.2.P")
    assert (p["rows"], p["cols"]) == (len(v.spec.transformer.example),) * 2 and p["kind"] == "matrix"
    assert d["max_score"] == float(grade(v, v.key()).max_score)


def test_check_grades_as_dlexam_grade_does_and_explains_problem_2(server):
    v = make_variant(5)
    answers = key_answers(v)
    status, _, d = server.post("/api/practice/check", {"seed": 5, "answers": answers})
    assert status == 200 and d["score"] == d["max_score"] and not d["missing"]
    P = v.question("Pr2.2").fields[1].answer
    i = max(range(len(P)), key=lambda r: sum(x > 0 for x in P[r]))  # a row whose weight is shared
    answers["Pr2.2.P"] = [row[:] for row in answers["Pr2.2.P"]]
    answers["Pr2.2.P"][i][0] = "7/3"
    answers["Pr1.3.in_features"] = "1"
    status, _, d = server.post("/api/practice/check", {"seed": 5, "answers": answers})
    want = grade(v, {**answers, "seed": 5})
    assert d["score_exact"] == text(want.score) and want.score < want.max_score
    wrong = {f["id"]: f["wrong"] for f in d["fields"] if f["wrong"]}
    assert set(wrong) == {"Pr2.2.P", "Pr1.3.in_features"}
    cell = wrong["Pr2.2.P"][0]
    assert cell["at"] == [i, 0] and cell["expected"] == str(P[i][0]) and cell["given"] == "7/3"
    t = v.spec.transformer
    query = geoff.GeoffQuery(" ".join(t.example), 0.0, weights=geoff.GeoffWeights.from_spec(t))
    assert cell["explanation"]["summary"] == explain(query, f"P[{i},0]").summary
    assert Fraction(cell["explanation"]["exact"]) == P[i][0]
    assert "explanation" not in wrong["Pr1.3.in_features"][0] and wrong["Pr1.3.in_features"][0]["reason"]


def test_a_matrix_partly_filled_earns_its_cells(server):
    v = make_variant(5)
    S = key_answers(v)["Pr2.2.S"]
    S = [row[:] for row in S]
    S[0][0] = ""
    status, _, d = server.post("/api/practice/check", {"seed": 5, "answers": {"Pr2.2.S": S}})
    f = next(f for f in d["fields"] if f["id"] == "Pr2.2.S")
    n = len(S) ** 2
    assert f["points"] == pytest.approx(f["max_points"] * (n - 1) / n)
    assert f["wrong"][0]["given"] == "" and f["wrong"][0]["reason"].startswith("not answered")


def test_a_malformed_answer_costs_its_own_points_and_says_what_is_wrong(server):
    """One malformed answer no longer refuses the check (it was a 400): it scores 0 (a matrix: its cells), its
    feedback says what is wrong with it, and the other answers are graded as usual. Variant 5's points: P1.x 4
    each, Pr2.2's P 5 of its 8, 57 graded automatically."""
    v = make_variant(5)
    n = len(v.spec.transformer.example)
    answers = key_answers(v)
    answers["P1.1.choice"] = 9
    answers["Pr2.2.P"] = [row[:] for row in answers["Pr2.2.P"]]
    answers["Pr2.2.P"][0][0] = "abc"
    answers["Pr2.2.S"] = answers["Pr2.2.S"][:2]  # rows 3.. missing: not answered
    status, _, d = server.post("/api/practice/check", {"seed": 5, "answers": answers})
    assert status == 200, d
    assert Fraction(d["score_exact"]) == 57 - 4 - Fraction(5, n * n) - 3 * Fraction(n - 2, n)
    f = {r["id"]: r for r in d["fields"]}
    assert f["P1.1.choice"]["points"] == 0 and f["P1.1.choice"]["wrong"][0]["invalid"] == "option 9 is not one of 1-4"
    (cell,) = f["Pr2.2.P"]["wrong"]
    assert cell["at"] == [0, 0] and cell["given"] == "abc" and cell["invalid"].startswith("not a number: 'abc'")
    assert Fraction(cell["explanation"]["exact"]) == v.question("Pr2.2").fields[1].answer[0][0]  # still explained
    assert f["Pr2.2.S"]["notes"] == [f"2 of {n} rows given: rows 3-{n} count as not answered"]
    assert all(r["correct"] for r in d["fields"] if r["id"] not in ("P1.1.choice", "Pr2.2.P", "Pr2.2.S"))


def test_check_names_a_p_without_the_causal_mask_and_a_loss_in_log_base_10(server):
    """/practice says what `dlexam grade` says of a whole answer's mistake: P built here by argmax over every
    position (no mask), the loss as the sum of -log10 p of the key's logit rows (math.log10)."""
    v = make_variant(5)
    t = v.spec.transformer
    S = v.question("Pr2.2").fields[0].answer
    unmasked = [[Fraction(int(s == max(row)), sum(x == max(row) for x in row)) for s in row] for row in S]
    start = t.example.index(t.start)
    targets = [t.vocab.index(tok) for tok in t.example[start + 1:]]
    logits = v.question("Pr2.3").fields[0].answer
    log10 = sum(-math.log10(math.exp(float(r[k])) / sum(math.exp(float(z)) for z in r))
                for r, k in zip(logits, targets, strict=True))
    answers = key_answers(v) | {"Pr2.2.P": [[text(x) for x in r] for r in unmasked], "Pr2.3.loss": f"{log10:.4f}"}
    status, _, d = server.post("/api/practice/check", {"seed": 5, "answers": answers})
    assert status == 200, d
    wrong = {f["id"]: f["wrong"] for f in d["fields"] if f["wrong"]}
    assert set(wrong) == {"Pr2.2.P", "Pr2.3.loss"}
    assert all(w["reason"].startswith("P computed without the causal mask: ") for w in wrong["Pr2.2.P"])
    assert wrong["Pr2.3.loss"][0]["reason"].startswith("this is the loss in log base 10")
    graded = {f.id: f.wrong for f in grade(v, {**answers, "seed": 5}).fields}
    assert [w["reason"] for w in wrong["Pr2.2.P"]] == [w["reason"] for w in graded["Pr2.2.P"]]


@pytest.mark.parametrize("path, body, field", [
    ("/api/practice?seed=-1", None, "seed"), ("/api/practice?seed=1&difficulty=hard", None, "difficulty"),
    ("/api/practice", None, "seed"), ("/api/practice/check", {"seed": 1, "answers": {"Pr9.9": 1}}, "answers"),
    ("/api/practice/check", {"seed": 1, "answers": {"P1.1.choice": 1, "seed": 2}}, "answers"),
    ("/api/practice/check", {"seed": 1, "answers": [1]}, "answers"), ("/api/practice/check", {"answers": {}}, "seed"),
])
def test_refusals_name_their_field(server, path, body, field):
    status, _, d = server.post(path, body) if body is not None else server.get(path)
    assert status == 400 and d["field"] == field, d


# ---- the page ---------------------------------------------------------------------------------------------------

def fill(page, answers: dict) -> None:
    """Type `answers` (a key's values) into the page as a student would."""
    for aid, value in answers.items():
        if isinstance(value, list):
            for i, row in enumerate(value):
                for j, x in enumerate(row):
                    page.fill(f"#in-{aid.replace('.', chr(92) + '.')} input[data-i='{i}'][data-j='{j}']", x)
        elif isinstance(value, int):
            page.check(f"input[name='{aid}'][value='{value}']")
        else:
            page.fill(f"#in-{aid.replace('.', chr(92) + '.')}", value)


def fill_fast(page, answers: dict) -> None:
    """`fill` in one call: each matrix cell or number set and its input event sent, as typing ends with."""
    page.evaluate("""(answers) => {
        const put = (el, x) => { el.value = x; el.dispatchEvent(new Event("input", {bubbles: true})); };
        for (const [id, v] of Object.entries(answers)) {
            const box = document.getElementById("in-" + id);
            if (!Array.isArray(v)) { put(box, v); continue; }
            for (const el of box.querySelectorAll("input")) put(el, v[el.dataset.i][el.dataset.j]);
        }
    }""", answers)


def fill_quick(page, answers: dict) -> None:
    """`fill` for a test that is not about the typing itself: the choices clicked as `fill` clicks them, every matrix
    and number in one call (:func:`fill_fast`); typing a whole key cell by cell took seconds a test."""
    fill(page, {aid: x for aid, x in answers.items() if isinstance(x, int)})
    fill_fast(page, {aid: x for aid, x in answers.items() if not isinstance(x, int)})


def check(page) -> None:
    n = counter(page, "checked")
    page.click("#check")
    ready(page, checked=n + 1)


@pytest.mark.parametrize("how", ["click", "enter"])
def test_answering_with_the_key_gives_full_marks(page, how):
    """Checked by the button, or by Enter in a one-line answer (an essay's Enter stays a new line)."""
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    v = make_variant(3)
    key = key_answers(v)
    if how == "click":  # typed as a student types: every choice and number, and every cell of the smaller matrices
        typed = {aid: x for aid, x in key.items() if not isinstance(x, list) or len(x) * len(x[0]) <= 15}
        assert {type(x) for x in typed.values()} == {int, str, list}  # each kind of input, typed
        fill(page, typed)
        fill_fast(page, {aid: x for aid, x in key.items() if aid not in typed})  # S, P, R: 119 cells in one call
    else:  # the same key in one call
        fill_quick(page, key)
    if how == "click":
        check(page)
    else:
        n = counter(page, "checked")
        page.press("#in-Pr1\\.3\\.in_features", "Enter")
        ready(page, checked=n + 1)
    g = grade(v, v.key())
    assert f"score {float(g.score):g} of {float(g.max_score):g}" in page.text_content("#result-score")
    assert page.locator(".field.wrong").count() == 0
    assert page.locator(".field.right").count() == sum(f.kind != "essay" for _, f in v.fields().values())


def test_one_wrong_cell_is_marked_with_its_right_value_and_where_it_comes_from(page):
    page.set_default_timeout(WAIT_MS)
    v = make_variant(3)
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    answers = key_answers(v)
    S = v.question("Pr2.2").fields[0].answer
    answers["Pr2.2.S"] = [row[:] for row in answers["Pr2.2.S"]]
    answers["Pr2.2.S"][2][1] = str(S[2][1] + 1)
    fill_quick(page, answers)
    check(page)
    wrong = page.locator("#in-Pr2\\.2\\.S input.wrong")
    assert wrong.count() == 1 and wrong.get_attribute("data-i") == "2" and wrong.get_attribute("data-j") == "1"
    assert wrong.get_attribute("aria-invalid") == "true" and wrong.get_attribute("title") == f"right: {S[2][1]}"
    feedback = page.inner_text("#fb-Pr2\\.2\\.S")
    assert f"right: {S[2][1]}" in feedback
    t = v.spec.transformer
    want = explain(geoff.GeoffQuery(" ".join(t.example), 0.0, weights=geoff.GeoffWeights.from_spec(t)), "S[2,1]")
    assert page.text_content("#fb-Pr2\\.2\\.S .explain-summary") == want.summary  # opened: the first wrong cell
    assert page.locator(".field.wrong").count() == 1
    # put right and checked again: the cell's mark goes, its "right: ..." tooltip with it (it stayed)
    fill_quick(page, key_answers(v))
    check(page)
    assert page.locator("#sheet .wrong").count() == 0 and page.locator("#sheet [title^='right: ']").count() == 0


def test_a_typo_in_one_cell_is_marked_and_the_rest_is_graded(page):
    """A cell typed as "1/2x" (was: the whole check refused with an error): that cell is wrong with what is wrong
    with it, every other answer right."""
    page.set_default_timeout(WAIT_MS)
    v = make_variant(3)
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    answers = key_answers(v)
    answers["Pr2.2.P"] = [row[:] for row in answers["Pr2.2.P"]]
    answers["Pr2.2.P"][1][0] = "1/2x"
    fill_quick(page, answers)
    check(page)
    assert page.text_content("#error").strip() == ""
    wrong = page.locator("#in-Pr2\\.2\\.P input.wrong")
    assert wrong.count() == 1 and wrong.get_attribute("data-i") == "1" and wrong.get_attribute("data-j") == "0"
    assert "you wrote 1/2x" in page.inner_text("#fb-Pr2\\.2\\.P")
    assert "not a number: '1/2x'" in page.inner_text("#fb-Pr2\\.2\\.P")
    assert page.locator(".field.wrong").count() == 1
    assert page.locator(".field.right").count() == sum(f.kind != "essay" for _, f in v.fields().values()) - 1


def test_a_wrong_choice_says_which_option_each_reason_is_about(page):
    """A true statement picked for P1.1 (which is false?): the reason shown after the right option is the chosen
    option's, so it is labelled with it, and the right option's own reason follows (it was missing, and the chosen
    one's "true: ..." read as if it were the right option's)."""
    page.set_default_timeout(WAIT_MS)
    v = make_variant(3)
    f = v.question("P1.1").fields[0]
    k = f.answer % len(f.options) + 1
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    fill(page, {"P1.1.choice": k})
    check(page)
    (w,) = next(r for r in grade(v, {**v.key(), "P1.1.choice": k}).fields if r.id == "P1.1.choice").wrong
    said = page.inner_text("#fb-P1\\.1\\.choice")
    assert f"option {k}: {f.option_reasons[k - 1]}; option {f.answer}: {f.why}" in said, said
    assert w["reason"].startswith("true: ") and f.why.startswith("false: ")


def test_the_seed_and_the_answers_survive_a_reload_and_progress_stays_in_the_browser(page):
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{page.base}/practice")
    ready(page)
    seed = params(page)["seed"]  # a fresh seed, put in the URL
    assert seed.isdigit() and page.text_content("#seed-label").startswith(seed)
    page.fill("#in-Pr1\\.3\\.in_features", "12")
    check(page)
    stored = json.loads(page.evaluate("() => localStorage.getItem('dlexam.practice')"))
    entry = stored[f"standard:{seed}"]
    assert entry["answers"] == {"Pr1.3.in_features": "12"} and entry["max_score"] > 0 and "score" in entry
    page.reload()
    ready(page)
    assert params(page)["seed"] == seed and page.input_value("#in-Pr1\\.3\\.in_features") == "12"
    assert "last checked" in page.text_content("#status")
    assert page.locator(f"#progress-table a[href='/practice?seed={seed}&difficulty=standard']").count() == 1
    page.click("#new")
    ready(page)
    assert params(page)["seed"] != seed and page.input_value("#in-Pr1\\.3\\.in_features") == ""
    page.go_back()
    ready(page)
    assert params(page)["seed"] == seed


def test_answers_typed_just_before_a_reload_or_another_variant_are_kept(page):
    """The answers are saved once the typing pauses (300 ms); a reload, "new variant" or Back within that pause lost
    the last ones (they are now saved before the page or its variant goes)."""
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    page.fill("#in-Pr1\\.1\\.rf", "7")
    page.reload()
    ready(page)
    assert page.input_value("#in-Pr1\\.1\\.rf") == "7"
    page.fill("#in-Pr1\\.4\\.kernel", "3")
    page.click("#new")
    ready(page)
    assert params(page)["seed"] != "3"
    page.go_back()
    ready(page)
    assert params(page)["seed"] == "3"
    assert page.input_value("#in-Pr1\\.1\\.rf") == "7" and page.input_value("#in-Pr1\\.4\\.kernel") == "3"


def test_a_seed_beyond_javascripts_exact_integers_is_graded_as_its_own_variant(page):
    """Seeds go to 2^63 - 1, but a JSON number read by JavaScript is exact only to 2^53: the page took the sheet's
    seed 2^53 + 1 as 2^53 and checked the answers against that other variant's key (and kept them under its name).
    Oracle: the key of make_variant(2^53 + 1), which `dlexam grade` gives full marks."""
    seed = 2**53 + 1
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{page.base}/practice?seed={seed}")
    ready(page)
    v = make_variant(seed)
    fill_quick(page, key_answers(v))
    check(page)
    g = grade(v, v.key())
    assert f"score {float(g.score):g} of {float(g.max_score):g}" in page.text_content("#result-score")
    assert page.locator(".field.wrong").count() == 0
    assert page.text_content("#seed-label").startswith(f"{seed} ")
    stored = json.loads(page.evaluate("() => localStorage.getItem('dlexam.practice')"))
    assert list(stored) == [f"standard:{seed}"]


def test_check_with_only_a_written_answer_says_what_it_cannot_check(page):
    """Essays are graded by a person and never sent (docs/serve.md): "check" with only an essay written sent an empty
    submission and showed the API's refusal, "submission: no answers in it (give answer id -> answer ...)", untrue
    for a student who wrote one. The page now says so itself, sending nothing."""
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    page.fill("#in-Pr1\\.1\\.pooling", "pooling halves the map")
    page.click("#check")
    page.wait_for_selector("body[data-state=error]")
    error = page.text_content("#error")
    assert "graded by a person" in error and "submission" not in error, error
    assert page.text_content("#status") == ""  # said once, by the alert box #error (test_alert_once.py)
    assert not [u for u in page.watch.requests if "/api/practice/check" in u]
    page.fill("#in-Pr1\\.1\\.rf", "5")
    check(page)
    assert page.text_content("#error") == "" and page.locator("#field-Pr1\\.1\\.rf.wrong").count() == 1


def test_a_variant_that_cannot_be_drawn_leaves_the_last_ones_answers_alone(page):
    """Back to a URL whose seed is refused: the last variant's questions leave the page, and "check" and "clear my
    answers" there did what they would to that variant (check threw on its missing inputs and left the page busy;
    clear wiped its saved answers)."""
    page.set_default_timeout(WAIT_MS)
    page.watch.refusals_expected = True
    page.goto(f"{page.base}/practice?seed=abc")
    page.wait_for_selector("body[data-state=error]")
    page.click("#new")
    ready(page)
    seed = params(page)["seed"]
    page.fill("#in-Pr1\\.1\\.rf", "42")
    saved = "(k) => (JSON.parse(localStorage.getItem('dlexam.practice') || '{}')[k] || {}).answers"
    for _ in range(100):  # saved once the typing pauses
        if page.evaluate(saved, f"standard:{seed}") == {"Pr1.1.rf": "42"}:
            break
        page.wait_for_timeout(50)
    page.go_back()
    page.wait_for_selector("body[data-state=error]")
    assert page.locator("#sheet input").count() == 0
    page.click("#check")
    page.click("#clear")
    page.wait_for_timeout(200)  # what the clicks set off, if anything
    assert page.evaluate("() => document.body.dataset.state") == "error"
    stored = json.loads(page.evaluate("() => localStorage.getItem('dlexam.practice')"))
    assert stored[f"standard:{seed}"]["answers"] == {"Pr1.1.rf": "42"}
    page.go_forward()
    ready(page)
    assert page.input_value("#in-Pr1\\.1\\.rf") == "42"


def test_a_check_while_a_new_variant_is_on_its_way_neither_drops_it_nor_grades_it(page):
    """"check" pressed while "new variant" is being drawn: the check dropped the new variant (the URL named it, the
    page went on showing the old one). And the other way round, as before: a check answered after the new variant
    arrived does not mark it with the grade of the old one."""
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    page.fill("#in-Pr1\\.1\\.rf", "7")
    held = []  # the requests held back: the next variant's, then a check's
    page.route("**/api/practice?*", lambda r: held.append(r) if not held else r.fallback())
    page.click("#new")
    while not held:
        page.wait_for_timeout(20)
    with page.expect_response("**/api/practice/check"):
        page.click("#check")
    held[0].continue_()  # the variant arrives after the check's answer
    seed = params(page)["seed"]
    page.wait_for_selector(f"#seed-label:text-is('{seed} (standard)')")
    ready(page)
    assert page.input_value("#in-Pr1\\.1\\.rf") == "" and page.locator(".field.right, .field.wrong").count() == 0

    page.fill("#in-Pr1\\.1\\.rf", "7")
    page.route("**/api/practice/check", lambda r: held.append(r))  # the check's answer after the next variant
    page.click("#check")
    while len(held) < 2:
        page.wait_for_timeout(20)
    page.click("#new")
    page.wait_for_selector(f"#seed-label:not(:text-is('{seed} (standard)'))")
    ready(page)
    with page.expect_response("**/api/practice/check"):
        held[1].continue_()
    page.wait_for_timeout(100)  # the answer's handler, if it marked anything
    assert page.locator(".field.right, .field.wrong").count() == 0 and page.text_content("#seed-label").startswith(
        params(page)["seed"] + " ")


def test_show_solution_and_the_index_links_practice(page):
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{page.base}/")
    page.click("a[href='/practice']")
    page.wait_for_url("**/practice?seed=*")
    ready(page)
    assert not page.is_visible(".solution")
    page.click("#solution")
    assert page.get_attribute("#solution", "aria-pressed") == "true" and params(page)["solution"] == "1"
    v = make_variant(int(params(page)["seed"]))
    loss = v.question("Pr2.3").fields[1].answer
    assert page.is_visible("#Pr2\\.3 .solution") and f"{loss:.4f}" in page.inner_text("#Pr2\\.3 .solution")


@pytest.mark.parametrize("width", [500, 1280])
def test_practice_fits(browser, server, width):
    ctx, page, watch = open_page(browser, server, width)
    page.set_default_timeout(WAIT_MS)
    page.goto(f"http://127.0.0.1:{server.port}/practice?seed=2&difficulty=harder&solution=1")
    ready(page)
    bad = page.evaluate("""() => [document.documentElement, document.body, ...document.querySelectorAll('.panel')]
        .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.id || el.tagName)""")
    assert bad == []
    # an answer grid's boxes fill their columns, so each heading stands over its boxes: the "4 <START>" column was
    # wider than its boxes, which stood at its left with a gap after them (seed 2, 2026-12-07)
    gaps = page.evaluate("""() => Array.from(document.querySelectorAll('table.answer-matrix td > input')).map((i) => {
        const td = i.parentElement.getBoundingClientRect(), box = i.getBoundingClientRect();
        return [i.getAttribute('aria-label'), td.right - box.right, box.left - td.left]; })
        .filter(([, right, left]) => right > 2 || left > 2)""")
    headed = page.evaluate("""() => Array.from(document.querySelectorAll('table.answer-matrix th[scope=col]'))
        .map((th) => th.textContent)""")
    assert any(h.endswith(" <START>") for h in headed) and gaps == [], gaps[:5]
    ctx.close()
    watch.check()


def test_a_grid_wider_than_a_phone_keeps_its_row_names_in_sight(browser, server):
    """At 360 px /practice's answer grids scroll sideways in their boxes: the row names stay at the box's left (sticky)
    as the boxes scroll under them, and a box the keyboard reaches is not hidden under them. Until 2026-12-07 the row
    names scrolled away with the boxes: a student filling P's last columns saw no row label at all."""
    ctx, page, watch = open_page(browser, server, 360)
    page.goto(f"http://127.0.0.1:{server.port}/practice?seed=2&difficulty=harder")
    ready(page)
    grid = "[id='in-Pr2.2.P']"
    box = "(sel) => document.querySelector(sel).parentElement"
    last = page.evaluate("(sel) => document.querySelector(sel).rows[1].cells.length", grid) - 2
    assert page.evaluate(f"(sel) => ({box})(sel).dataset.scrolls", grid) == ""  # it scrolls at 360 px
    page.focus(f"{grid} input[data-i='3'][data-j='{last}']")  # the box scrolls to its right end
    seen = """(sel) => { const el = document.querySelector(sel), r = el.getBoundingClientRect();
        const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return at === el || el.contains(at); }"""
    assert page.evaluate(f"(sel) => ({box})(sel).scrollLeft", grid) > 0
    assert page.evaluate(seen, f"{grid} tr:nth-child(5) th"), "row 4's name scrolled out of sight"
    assert page.evaluate(seen, f"{grid} input[data-i='3'][data-j='{last}']")
    for _ in range(last):  # back to the first column with Shift+Tab: each box comes out from under the row names
        page.keyboard.press("Shift+Tab")
        focused = page.evaluate("() => document.activeElement.dataset.j")
        assert page.evaluate(seen, f"{grid} input[data-i='3'][data-j='{focused}']"), focused
    ctx.close()
    watch.check()


def test_clear_my_answers_asks_before_it_wipes_them(page):
    """"clear my answers", beside "check" (below it on a phone), wiped every answer at one click, essays too, with no
    way back (2026-12-07). It now asks, saying how many answers go; declined, nothing changes."""
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{page.base}/practice?seed=3")
    ready(page)
    page.fill("#in-Pr1\\.3\\.in_features", "216")
    page.check("input[name='P1.1.choice'] >> nth=0")
    asked, accept = [], [False]

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if accept[0] else dialog.dismiss()

    page.on("dialog", answer)
    page.click("#clear")
    page.wait_for_timeout(200)
    assert len(asked) == 1 and "your 2 answers to variant 3 (standard)" in asked[0], asked
    assert page.input_value("#in-Pr1\\.3\\.in_features") == "216"
    assert page.locator("input[name='P1.1.choice']:checked").count() == 1
    accept[0] = True
    page.click("#clear")
    page.wait_for_function("() => document.getElementById('status').textContent.includes('cleared')")
    assert len(asked) == 2 and page.input_value("#in-Pr1\\.3\\.in_features") == ""
    assert page.locator("#sheet input[type=radio]:checked").count() == 0
    page.click("#clear")  # nothing left to lose: cleared without a question
    page.wait_for_timeout(200)
    assert len(asked) == 2


def test_a_whole_answers_mistake_is_said_once_and_a_right_answers_note_is_shown(page):
    """Variant 7, harder (R's columns the symbols A, D, C, B): S with one slip and P right given it (follow-through), R
    with its columns in alphabetical order, Pr1.3's shapes with the input's shape above them (the page's grid has
    the rows asked, so the request is given the extra row on its way, as a file to `dlexam grade` gives it). Each
    mistake is said once in its answer's feedback, each cell then saying only what it adds (it was repeated in every
    wrong cell: 20 times for R), and the note on the right shapes is shown (it was dropped, the answer being right).
    A second check: P without the mask and with ties broken, a pair of mistakes, said once too. Built by hand from
    the spec."""
    page.set_default_timeout(WAIT_MS)
    v = make_variant(7, "harder")
    t, cnn = v.spec.transformer, v.spec.cnn
    answers = {k: x for k, x in key_answers(v).items() if k in ("Pr2.2.S", "Pr1.3.shapes")}
    S = [list(r) for r in v.question("Pr2.2").fields[0].answer]
    P = v.question("Pr2.2").fields[1].answer
    i = next(i for i in range(1, len(S)) if P[i][0] != 1)
    S[i][0] = max(S[i][:i + 1]) + 1  # one slip: position 1 now outscores the rest of row i
    mine = []
    for k, row in enumerate(S):  # causal argmax by hand, ties shared
        top = [j for j in range(k + 1) if row[j] == max(row[:k + 1])]
        mine.append([text(Fraction(1, len(top)) if j in top else Fraction(0)) for j in range(len(row))])
    d = len(t.E[0])
    heads = [next(s for s, e in zip(t.symbols, t.E, strict=False) if list(e) == [int(k == j) for k in range(d)])
             for j in range(d)]
    assert heads == ["A", "D", "C", "B"]
    R = key_answers(v)["Pr2.4.R"]
    answers |= {"Pr2.2.S": [[text(x) for x in r] for r in S], "Pr2.2.P": mine,
                "Pr2.4.R": [[row[heads.index(s)] for s in sorted(heads)] for row in R]}
    first = [str(cnn.input_channels), *map(str, cnn.input_size)]

    def extra_row(route):
        body = json.loads(route.request.post_data)
        body["answers"]["Pr1.3.shapes"] = [first, *body["answers"]["Pr1.3.shapes"]]
        route.continue_(post_data=json.dumps(body))

    page.route("**/api/practice/check", extra_row)
    page.goto(f"{page.base}/practice?seed=7&difficulty=harder")
    ready(page)
    fill_fast(page, answers)
    check(page)
    said = {aid: page.inner_text(f"#fb-{aid.replace('.', chr(92) + '.')}") for aid in
            ("Pr2.2.P", "Pr2.4.R", "Pr1.3.shapes")}
    assert said["Pr2.2.P"].count("right given your S") == 1, said["Pr2.2.P"]
    assert said["Pr2.4.R"].count("R's columns given in alphabetical order (A, B, C, D)") == 1, said["Pr2.4.R"]
    assert page.locator("#fb-Pr2\\.4\\.R .mistake").count() == 1
    assert page.locator("#field-Pr1\\.3\\.shapes.right").count() == 1
    asked = len(answers["Pr1.3.shapes"])
    assert said["Pr1.3.shapes"].count(f"note: rows 2-{asked + 1} of the {asked + 1} rows given are the {asked} rows "
                                      "asked") == 1, said["Pr1.3.shapes"]
    assert axe_violations(page, [f"#fb-{k}" for k in ("Pr2\\.2\\.P", "Pr2\\.4\\.R", "Pr1\\.3\\.shapes")]) == []
    # the pair: P without the mask, each row's weight at the first of its largest scores over every position
    broken = []
    for row in v.question("Pr2.2").fields[0].answer:
        broken.append([str(int(j == row.index(max(row)))) for j in range(len(row))])
    fill_fast(page, {"Pr2.2.S": key_answers(v)["Pr2.2.S"], "Pr2.2.P": broken})
    check(page)
    p = page.inner_text("#fb-Pr2\\.2\\.P")
    assert p.count("P computed without the causal mask and with ties broken") == 1, p
