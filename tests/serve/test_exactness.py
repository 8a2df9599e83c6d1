"""What /geoff *says*, against an oracle that is not the library: Geoff's transformer typed in from the exam's
Problem 2 (E, W_Q = W_K = W_V, W_O) and run with torch.softmax and autograd in float64. Every number on the page
(X, Q, K, V, Q K^T, P, Z, R, the logits, both loss tables and losses, every gradient) must equal the oracle to the
precision it is shown at: a fraction exactly, a decimal to its last digit. A number shown as 0 at its precision
must be 0: a gradient of -1.7e-7 at T = 0.5 is not "-0.0000" (the vanishing of Problem 2.5 is the lesson).
A clicked number's arithmetic, evaluated here, gives the clicked number."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import pytest
import torch

from .browser import EXAMPLE, EXAMPLE_Q, counter, matrix, ready

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

VOCAB = ["A", "B", "C", "D", "<START>", "<STOP>"]
E = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]  # the exam's E
W = [[0, 3], [1, 2], [2, 1], [3, 0]]  # W_Q = W_K = W_V
W_O = [[0, 1, 0, 1], [1, 0, 1, 0]]
I4 = [[int(i == j) for j in range(4)] for i in range(4)]  # Problem 2.4's W_O'
F = Fraction
# Problem 2.3's R = Z W_O as the exam prints it at T = 0, with its third row restored (the extraction lost it: the
# printed R has six rows; position 3 is the second A, P's row 1/2 (v_A + v_A) = z = (0, 3), so r = (3, 0, 3, 0)).
# The one-head R that Problem 2.4 compares two heads with.
EXAM_R = [[0, 3, 0, 3], [3, 0, 3, 0], [3, 0, 3, 0], [F(3, 2), F(3, 4), F(3, 2), F(3, 4)], [3, 0, 3, 0], [0, 3, 0, 3],
          [F(9, 7), F(6, 7), F(9, 7), F(6, 7)]]


def oracle(T: float, heads: int = 1, edits: dict | None = None) -> dict:
    """Every matrix, both losses with their probabilities, and the teacher-forcing loss's gradients, by autograd."""
    given = {"E": E, "W_Q": W, "W_K": W, "W_V": W, "W_O": W_O if heads == 1 else I4, **(edits or {})}
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in given.items()}
    # Problem 2.4: each head has its own copy of W_Q, W_K, W_V (equal values, a gradient each)
    per_head = [{k: p[k] if heads == 1 else p[k].detach().clone().requires_grad_() for k in ("W_Q", "W_K", "W_V")}
                for _ in range(heads)]
    toks = EXAMPLE.split()
    ids = torch.tensor([VOCAB.index(t) for t in toks])
    n = len(toks)
    X = p["E"][ids]
    future = ~torch.ones(n, n, dtype=torch.bool).tril()
    out = {k: [] for k in ("Q", "K", "V", "S", "P", "Z")}
    for w in per_head:
        Q, K, V = X @ w["W_Q"], X @ w["W_K"], X @ w["W_V"]
        S = Q @ K.T
        if T == 0:  # argmax, ties sharing the weight: a constant of the weights (no gradient flows through it)
            s = S.detach().masked_fill(future, -math.inf)
            top = (s == s.max(dim=1, keepdim=True).values).double()
            P = top / top.sum(dim=1, keepdim=True)
        else:
            P = torch.softmax((S / T).masked_fill(future, -math.inf), dim=1)
        for k, v in dict(Q=Q, K=K, V=V, S=S, P=P, Z=P @ V).items():
            out[k].append(v)
    R = torch.cat(out["Z"], dim=1) @ p["W_O"]  # [Z_1 .. Z_k] W_O
    logits = R @ p["E"].T
    log_p = torch.log_softmax(logits, dim=1)
    start = toks.index("<START>")
    targets = range(start + 1, n)
    losses = {}
    for conv, shift in (("teacher_forcing", 1), ("exam", 0)):
        terms = [-log_p[t - shift, ids[t]] for t in targets]
        losses[conv] = (sum(terms), [math.exp(-x.item()) for x in terms])
    losses["teacher_forcing"][0].backward()
    out = {**{k: [v.detach().tolist() for v in vs] for k, vs in out.items()},
           **{k: v.detach().tolist() for k, v in dict(X=X, R=R, logits=logits).items()}}
    out["loss"] = {c: (v[0].item(), v[1]) for c, v in losses.items()}
    grad = lambda t: (t.grad if t.grad is not None else torch.zeros_like(t)).tolist()  # noqa: E731
    out["grads"] = {"E": grad(p["E"]), "W_O": grad(p["W_O"]),
                    **{k: [grad(w[k]) for w in per_head] for k in ("W_Q", "W_K", "W_V")}}
    return out


def disagreement(shown: str, value: float) -> str | None:
    """Why `shown` is not `value` at the precision it is written in (None when it is)."""
    s = shown.strip()
    if re.fullmatch(r"-?\d+(/\d+)?", s):  # exact: 3, -3/4, 9/7
        return None if abs(float(Fraction(s)) - value) <= 1e-9 * max(1.0, abs(value)) else "not exactly"
    if re.fullmatch(r"-?\d+\.\d+", s):
        places = len(s.split(".")[1])
        if float(s) == 0 and value != 0:
            return f"shown as 0 at {places} places, but it is not 0"
        return None if abs(float(s) - value) <= 0.5 * 10 ** -places + 1e-12 else f"not to {places} places"
    if re.fullmatch(r"-?\d\.\d+e-?\d+", s):  # too small for 4 places: 4 significant digits
        digits = len(s.split("e")[0].split(".")[1]) + 1
        return None if math.isclose(float(s), value, rel_tol=0.5 * 10 ** (1 - digits)) else f"not to {digits} digits"
    return "not a number"


def wrong_numbers(page, want: dict, heads: int) -> list[str]:
    wrong = []

    def compare(where, shown, value):
        why = disagreement(shown, value)
        if why:
            wrong.append(f"{where}: shown {shown!r}, autograd {value!r}: {why}")

    tables = [("X", want["X"]), ("R", want["R"]), ("logits", want["logits"])]
    tables += [(f"{k}-h{h}", want[m][h]) for h in range(heads) for k, m in (("Q", "Q"), ("K", "K"), ("V", "V"),
                                                                           ("scores", "S"), ("P", "P"), ("Z", "Z"))]
    for table, m in tables:
        rows = matrix(page, "#" + table)
        assert len(rows) == len(m), table
        for i, row in enumerate(rows):
            for j, s in enumerate(row):
                if not (table.startswith("scores") and j > i):  # the masked future is greyed, not a model number
                    compare(f"{table}[{i},{j}]", s, m[i][j])
    for conv in ("teacher_forcing", "exam"):
        loss, probabilities = want["loss"][conv]
        rows = matrix(page, f"#probs-{conv}")
        assert len(rows) == len(probabilities)
        for i, row in enumerate(rows):
            compare(f"P(target) {conv} row {i}", row[2], probabilities[i])
        compare(f"loss {conv}", page.text_content(f"#loss-{conv}"), loss)
    tables = [("grad-E", want["grads"]["E"]), ("grad-W_O" if heads == 1 else "grad-multi_W_O", want["grads"]["W_O"])]
    tables += [(f"grad-{k}" + (f"-h{h}" if heads > 1 else ""), want["grads"][k][h])
               for k in ("W_Q", "W_K", "W_V") for h in range(heads)]
    for table, g in tables:
        rows = matrix(page, "#" + table)
        assert len(rows) == len(g), table
        for i, row in enumerate(rows):
            for j, s in enumerate(row):
                compare(f"{table}[{i},{j}]", s, g[i][j])
    return wrong


@pytest.mark.parametrize("T, shown", [(0.0, "0"), (0.5, "0.5"), (math.sqrt(2), "sqrt"), (1e6, "1000000")])
def test_every_number_on_geoff_is_autograds_at_its_precision(page, T, shown):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T={shown}&grad=1")
    ready(page)
    assert wrong_numbers(page, oracle(T), heads=1) == []
    n = counter(page, "rendered")
    page.check("#heads-2")
    ready(page, rendered=n + 1)
    assert wrong_numbers(page, oracle(T, heads=2), heads=2) == []


def test_a_typed_weight_changes_every_number_as_autograd_says(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0.5&grad=1")
    ready(page)
    n = counter(page, "rendered")
    page.locator("#edit-W_V input").first.fill("-1.25")  # W_V row 1, column 1
    ready(page, rendered=n + 1)
    assert wrong_numbers(page, oracle(0.5, edits={"W_V": [[-1.25, 3], [1, 2], [2, 1], [3, 0]]}), heads=1) == []


# A learner's exact fractions (typed "1/3" and "-2/5" in the cells): the page sends them as typed, the API reads them
# exactly (dlexam.variants.typed.read_text), the model gets the double nearest each.
W_V_THIRD = [[F(1, 3), 3], [1, 2], [2, 1], [3, 0]]
W_Q_FIFTHS = [[0, 3], [F(-2, 5), 2], [2, 1], [3, 0]]


def test_a_typed_fraction_is_the_exact_rational_in_every_number_and_stays_a_fraction(page):
    """A fraction in a weight cell ("1/3") was refused as "not a number" where the page shows exact fractions; now
    every number is autograd's on float64's 1/3 and -2/5, and the cell and the link keep the fraction as typed."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0.5&grad=1")
    ready(page)
    for sel, text in (("#edit-W_V input", "1/3"), ("#edit-W_Q input", " -2 / 5")):
        n = counter(page, "rendered")
        page.locator(sel).nth(0 if "W_V" in sel else 2).fill(text)  # W_V row 1, column 1; W_Q row 2, column 1
        ready(page, rendered=n + 1)
    edits = {k: [[float(v) for v in r] for r in m] for k, m in (("W_V", W_V_THIRD), ("W_Q", W_Q_FIFTHS))}
    assert wrong_numbers(page, oracle(0.5, edits=edits), heads=1) == []
    url = page.url
    assert "W_V=1%2F3%2C3%3B1%2C2%3B2%2C1%3B3%2C0" in url and "W_Q=0%2C3%3B-2%2F5%2C2" in url, url
    page.goto(url)  # the link: the cells show the fractions, and the numbers are the same
    ready(page)
    assert page.locator("#edit-W_V input").first.input_value() == "1/3"
    assert page.locator("#edit-W_Q input").nth(2).input_value() == "-2/5"
    assert wrong_numbers(page, oracle(0.5, edits=edits), heads=1) == []


def exact_run(W_Q, W_K, W_V) -> dict:
    """Problem 2 at T = 0 in Fractions, by hand: X, Q, K, V, S, P (argmax, causal, ties shared), Z, R, logits."""
    ids = [VOCAB.index(t) for t in EXAMPLE.split()]
    mul = lambda A, B: [[sum((F(a) * F(b) for a, b in zip(r, c, strict=True)), F(0)) for c in zip(*B, strict=True)]  # noqa: E731
                        for r in A]
    X = [E[i] for i in ids]
    Q, K, V = mul(X, W_Q), mul(X, W_K), mul(X, W_V)
    S = mul(Q, [list(c) for c in zip(*K, strict=True)])
    P = []
    for i, row in enumerate(S):
        top = max(row[: i + 1])
        tied = [j for j in range(i + 1) if row[j] == top]
        P.append([F(1, len(tied)) if j in tied else F(0) for j in range(len(row))])
    Z = mul(P, V)
    R = mul(Z, W_O)
    return {"Q": Q, "K": K, "V": V, "scores": S, "attention": P, "Z": Z, "R": R,
            "logits": mul(R, [list(c) for c in zip(*E, strict=True)])}


def test_the_api_reads_a_typed_fraction_exactly(server):
    """POST /api/geoff with weights typed as fractions ("1/3", "-2/5"): its exact view is the Fraction arithmetic of
    Problem 2 done by hand, its float view the double nearest 1/3; a fraction that is none is refused naming its
    cell (the API refused every text as "type a number")."""
    text = lambda m: [[str(v) if isinstance(v, Fraction) else v for v in r] for r in m]  # noqa: E731
    status, _, d = server.post("/api/geoff?exact=1", {"sequence": EXAMPLE, "temperature": 0,
                                                      "weights": {"W_V": text(W_V_THIRD), "W_Q": text(W_Q_FIFTHS)}})
    assert status == 200, d
    assert d["weights"]["W_V"][0][0] == 1 / 3 and d["weights"]["W_Q"][1][0] == -2 / 5  # float64's, correctly rounded
    want = exact_run(W_Q_FIFTHS, W, W_V_THIRD)
    wrong = [f"{k}[{i},{j}]: {s} != {want[k][i][j]}" for k in want for i, row in enumerate(d["exact"][k])
             for j, s in enumerate(row) if Fraction(s) != want[k][i][j]]
    assert wrong == []
    assert any(v.denominator == 3 for r in want["Z"] for v in r)  # the thirds reach Z: the check is not of integers
    for bad, says in (("1/0", "not a number: '1/0' (a fraction's denominator is 0)"), ("1/", "not a number: '1/'"),
                      ("a/b", "not a number: 'a/b'"), ("3000001/3", "3000001/3 is too large")):
        status, _, r = server.post("/api/geoff", {"weights": {"W_V": [[bad, 3], [1, 2], [2, 1], [3, 0]]}})
        assert (status, r["field"]) == (400, "weights.W_V"), r
        assert r["error"].startswith(f"W_V, row A, column d1: {says}"), r


def evaluate(expr: str) -> float:
    """The arithmetic an explanation writes, evaluated: products "0*3 + 0*0", "1*(-0.0000) [A (position 5)]",
    softmax's "e^18 / (3 e^18 + 2)", a loss term's "log(2 e^(3/2) + 2 e^(3/4) + 2) - 3/2"."""
    e = re.sub(r"\[[^\]]*\]", "", expr)  # [A (position 2)]: which row a product comes from
    e = re.sub(r"\((?=[a-z])[^()]*\)", "", e)  # words: "0 (every term is 0)"
    e = re.sub(r"e\^\(", "exp(", e)
    e = re.sub(r"e\^([-\d./]+)", r"exp(\1)", e)
    e = re.sub(r"(\d) (exp|log)", r"\1*\2", e)
    assert re.fullmatch(r"[\d\s.+\-*/()expolg]+", e), expr
    return eval(e, {"__builtins__": {}, "exp": math.exp, "log": math.log})  # noqa: S307 - digits and exp/log only


@pytest.mark.parametrize("T", ["0", "0.5"])
def test_a_clicked_numbers_arithmetic_gives_the_clicked_number(page, T):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T={T}&grad=1")
    ready(page)
    want = oracle(float(T))
    for table, i, j, cell, value in [("scores-h0", 5, 1, "S[5,1]", want["S"][0][5][1]),
                                     ("P-h0", 4, 1, "P[4,1]", want["P"][0][4][1]),
                                     ("P-h0", 4, 0, "P[4,0]", want["P"][0][4][0]),
                                     ("R", 6, 0, "R[6,0]", want["R"][6][0]),
                                     ("logits", 4, 2, "logits[4,2]", want["logits"][4][2]),
                                     ("grad-W_V", 0, 1, "dW_V[0,1]", want["grads"]["W_V"][0][0][1]),
                                     ("grad-W_Q", 0, 0, "dW_Q[0,0]", want["grads"]["W_Q"][0][0][0]),
                                     ("grad-W_O", 1, 2, "dW_O[1,2]", want["grads"]["W_O"][1][2])]:
        page.locator(f"#{table} tr:has(td:not(.corner)) >> nth={i}").locator("td:not(.corner)").nth(j).click()
        page.wait_for_selector(f"#explain-panel[data-cell='{cell}']")
        summary = page.text_content("#explain .explain-summary")
        exact = page.text_content("#explain .explain-exact")
        assert disagreement(exact, value) is None, (cell, exact, value)
        if cell.startswith("P"):  # softmax's closed form beside the result ("0.3333 = e^18 / (3 e^18 + 2)")
            note = page.text_content("#explain .explanation > p.note")
            arithmetic = note.split(f"its arithmetic gives {exact} = ")[1].split(";")[0] if T != "0" else exact
        else:  # the summary's last two sides: the arithmetic and its result, which is the clicked number
            arithmetic, result = (s.strip() for s in summary.rsplit(" = ", 2)[-2:])
            assert result == exact, summary
        products = len(re.findall(r"\*", arithmetic)) or 1
        assert math.isclose(evaluate(arithmetic), value, rel_tol=1e-3, abs_tol=products * 1e-4), (cell, summary)
    page.click("#probs-exam tr:has(td) >> nth=2")  # the loss term of <STOP>: -log p in closed form
    page.wait_for_selector("#explain-panel[data-cell='loss[6]']")
    summary = page.text_content("#explain .explain-summary")
    exam = summary.split("the exam's convention")[1]
    nll = exam.split("-log p = ")[1].rsplit(" = ", 1)
    assert math.isclose(evaluate(nll[0]), -math.log(want["loss"]["exam"][1][2]), rel_tol=1e-3), summary


def clicked_arithmetic(page, table: str, i: int, j: int, cell: str, heads: int) -> tuple[str, str, str]:
    """Click number (i, j) of `table` and wait for the explanation of `cell` on the `heads`-head model: (its
    arithmetic, the value the arithmetic gives as shown, the explanation's text)."""
    page.locator(f"#{table} tr:has(td:not(.corner)) >> nth={i}").locator("td:not(.corner)").nth(j).click()
    page.wait_for_selector(f"#explain-panel[data-cell='{cell}'][data-heads='{heads}']")
    summary = page.text_content("#explain .explain-summary")
    arithmetic, result = (s.strip() for s in summary.rsplit(" = ", 2)[-2:])  # "... = 6/7*0 + 9/7*1 = 9/7"
    assert result == page.text_content("#explain .explain-exact"), summary
    return arithmetic, result, page.text_content("#explain")


@pytest.mark.parametrize("T", ["0", "0.5"])
def test_the_one_head_R_beside_k_heads_explains_the_one_heads_arithmetic(page, T):
    """Problem 2.4's view shows the one-head R beside the k-head one: each of its numbers, clicked, shows the
    arithmetic of the ONE-head model (R = Z W_O, heads = 1, the same weights, T and input), which evaluates to the
    one-head R of the exam's Problem 2.3 (T = 0) and of the float64 oracle, not to the two-head R (whose columns are
    swapped: every cell of Version A's differs)."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T={T}&heads=2")
    ready(page)
    one, two = oracle(float(T))["R"], oracle(float(T), heads=2)["R"]
    if T == "0":
        assert all(math.isclose(EXAM_R[i][j], one[i][j], abs_tol=1e-12) for i in range(7) for j in range(4))  # agree
    shown = matrix(page, "#R-one")
    cells = [(i, j) for i in range(7) for j in range(4)] if T == "0" else [(6, j) for j in range(4)] + [(3, 0)]
    for i, j in cells:
        arithmetic, result, text = clicked_arithmetic(page, "R-one", i, j, f"R[{i},{j}]", heads=1)
        value = evaluate(arithmetic)
        assert math.isclose(value, one[i][j], abs_tol=1e-3), (i, j, arithmetic)
        assert not math.isclose(value, two[i][j], abs_tol=1e-3), (i, j, "the two-head R's number")
        assert disagreement(result, one[i][j]) is None and result == shown[i][j], (i, j, result)
        if T == "0":
            assert result == str(EXAM_R[i][j]), (i, j, result)  # exactly the exam's fraction
        assert "R = Z W_O" in text and "multi_W_O" not in text, text
        assert "one head" in text, text  # the panel says which model it explains
    # the k-head R beside it (and the same R above) stays the k-head model's
    arithmetic, result, text = clicked_arithmetic(page, "R-two", 6, 0, "R[6,0]", heads=2)
    assert math.isclose(evaluate(arithmetic), two[6][0], abs_tol=1e-3) and "multi_W_O" in text, text


@pytest.mark.parametrize("T", ["0", "0.5"])
def test_the_losses_beside_k_heads_explain_their_own_model(page, T):
    """The losses of Problem 2.4's table (one head, k heads): each, clicked, is the whole loss of its own model,
    whose closed form under each convention evaluates to the oracle's loss of that model."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T={T}&heads=2")
    ready(page)
    conventions = {"exam": "the exam's convention: L = ", "teacher_forcing": "standard teacher forcing: L = "}
    for j, heads in ((0, 1), (1, 2)):
        want = oracle(float(T), heads=heads)["loss"]
        for i, conv in enumerate(("exam", "teacher_forcing")):  # the table's rows
            number = page.locator(f"#heads-losses tr:has(td) >> nth={i}").locator("td").nth(j)
            number.click()
            page.wait_for_selector(f"#explain-panel[data-cell='loss'][data-heads='{heads}']")
            lines = page.eval_on_selector_all("#explain li", "ls => ls.map((l) => l.textContent)")
            for c, lead in conventions.items():
                line = next(x for x in lines if x.startswith(lead))
                closed = line[len(lead):].rsplit(" = ", 1)[0].replace("[", "(").replace("]", ")")  # one term each
                assert math.isclose(evaluate(closed), want[c][0], rel_tol=1e-4), (heads, c, line)
            assert disagreement(number.text_content(), want[conv][0]) is None, (heads, conv, number.text_content())
