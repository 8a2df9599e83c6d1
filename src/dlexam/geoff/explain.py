"""Where one number of Geoff's transformer comes from (Problem 2): the arithmetic behind one cell, in exact form.

Click a cell on /geoff, or ``dlexam geoff --explain "P[3,0]"`` (the spelling: :mod:`dlexam.geoff.cells`), and see
what made it. One function per kind of cell, each returning an :class:`Explanation` (data: a one-line summary, the
arithmetic line by line, the cells it came from, the value it computes beside the model's own):

- :func:`explain_embedding`: X[i, d] = E[token_i, d];
- :func:`explain_product`: a cell of a matrix product, a row times a column (Q = X W_Q, K, V, S = Q K^T, R = Z W_O or
  [Z_1 .. Z_k] multi_W_O, logits = R E^T): ``q_<START> . k_D = (0, 0) . (3, 0) = 0*3 + 0*0 = 0``;
- :func:`explain_attention`: a row of P, by argmax's tie rule at T = 0 ("the scores 0, 0, 0, 0 tie, so argmax
  shares the weight: 1/4 each", :func:`dlexam.geoff.exact.argmax_row`) or softmax's closed form at T > 0
  (``e^(s_ij/T) / sum_k e^(s_ik/T)``);
- :func:`explain_mix`: a row of Z = P V, ``1/7 (v_D + v_A + ...) = (6/7, 9/7)``;
- :func:`explain_loss_term`, :func:`explain_loss`: a target's -log p under teacher forcing (the row before it)
  and under the exam's Problem 2.3 reading (its own row), in closed form (:func:`dlexam.geoff.exact.loss_term`);
- :func:`explain_gradient`: d loss / d W for one entry of W_Q, W_K, W_V, W_O (multi_W_O) or E, as the last step of
  the chain rule, from the upstream gradients autograd gives on the model itself (under argmax attention
  d loss / d Q = d loss / d K = 0: P is piecewise constant in the scores);
- Problem 2.5's table and the gradient step (:mod:`dlexam.geoff.explain_steps`): a gradient's norm at the T of its
  row, a step's max |change| (lr x the largest |gradient| entry) and its losses before and after.

The operands are the model's own float64 results (:func:`dlexam.geoff.run_geoff`: no second forward pass), each
read as the fraction it equals where it is one (:func:`dlexam.exact.exact_fraction`, as every view prints them):
then the arithmetic is done in Fractions and the cell's exact value is shown (1/4, 9/7); otherwise it is done in
floats and shown to 4 decimals. ``computed`` is what the arithmetic gives, ``value`` the model's own number; the
tests check that they agree, for every cell, against independent Fractions where the cell is rational.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import torch

from dlexam.attention import is_argmax, resolve_temperature
from dlexam.errors import UserError
from dlexam.geoff.backprop import last_step
from dlexam.geoff.cells import MATRICES, Cell, Space, num, parse_cell, source
from dlexam.geoff.compare import GeoffQuery
from dlexam.geoff.exact import argmax_row, exp_text, loss_term, number_text, softmax_row, sum_of_exps
from dlexam.geoff.explain_steps import explain_change, explain_norm, explain_step_loss, explain_step_norm
from dlexam.geoff.explanation import Explanation, dot, total, vec
from dlexam.geoff.model import CONVENTION_SHORT, PARAMETERS, all_loss_terms, run_geoff, shared_model
from dlexam.geoff.step import GeoffStep, StepSettings
from dlexam.geoff.weights import parse_sequence
from dlexam.spec.numbers import shortest_text


def _rows(t: torch.Tensor, keep_nonzero: bool = False) -> list:
    """`t`'s entries as numbers (cells.num); `keep_nonzero` for softmax's weights and, at T > 0, what they mix (Z, R):
    a tiny entry there (P = 2.2e-28 at T = 0.5) is that number, not the exact 0."""
    return [[num(v, keep_nonzero) for v in r] for r in t.tolist()]


class Explainer:
    """The explanations of one query's cells: the model runs once (and its backward pass once, when a gradient is
    asked). `query` is a :class:`dlexam.geoff.GeoffQuery` (Version A's weights, a variant's, or edited ones);
    `step` the gradient step whose results (change[W], loss_before, loss_after) are explained (lr 0.1 on W_Q, W_K,
    W_V and W_O unless given, as on the page)."""

    def __init__(self, query: GeoffQuery, step: StepSettings | None = None):
        q = query
        self.query = q
        self.step = step if step is not None else StepSettings()
        self._stepped: GeoffStep | None = None
        self.result = run_geoff(q.sequence, temperature=q.temperature, heads=q.heads, weights=q.weights,
                                loss=q.loss)
        self.tokens = self.result.tokens
        self.space = Space.of(q.weights, self.tokens, q.heads)
        self.T = self.result.temperature
        self.argmax = is_argmax(self.T, torch.float64)
        self._backward: dict | None = None

    # ---- helpers ----------------------------------------------------------------------------------------------

    def matrix(self, name: str, head: int | None) -> torch.Tensor:
        """The model's matrix `name` (X, Q, K, V, S, P, Z, R, logits) of `head` (None: one head), (rows, cols)."""
        t = getattr(self.result, {"S": "scores"}.get(name, name))
        return t[head] if head is not None and MATRICES[name][2] else t

    def title(self, cell: Cell, row: str | None = None, col: str | None = None) -> str:
        lab = self.space.label
        r = row if row is not None else lab(self.space.axis(cell.matrix, 0), cell.row)
        c = col if col is not None else (":" if cell.col is None else lab(self.space.axis(cell.matrix, 1), cell.col))
        head = f"head {cell.head + 1}: " if cell.head is not None else ""
        return f"{head}{cell.matrix}[{r}, {c}]"

    def temperature_text(self) -> str:
        if self.query.temperature == "sqrt":
            return f"sqrt(d_k) = sqrt({self.query.weights.d_head}) = {self.T:.4f}"
        return shortest_text(self.T)  # as the page writes T: 1e-9, not 1e-09

    def start(self) -> int:
        if not self.result.loss:
            raise UserError("no loss: the sequence has no <START> (the loss scores the tokens after it)")
        return self.tokens.index(self.query.weights.vocab[self.query.weights.start])

    def backward(self) -> dict:
        """The gradients of the loss (under the query's convention) with respect to every parameter (run_geoff's
        autograd) and to the model's own intermediate matrices X, Q, K, V, Z, R and the logits (autograd through
        the same model), each without its batch axis."""
        if self._backward is None:
            q, w = self.query, self.query.weights
            res = run_geoff(q.sequence, temperature=q.temperature, heads=q.heads, weights=w, gradients=True,
                            gradient_convention=q.convention, gradient_of=(*PARAMETERS, "E"))
            model, trace = shared_model(q.heads, w), []
            ids = parse_sequence(q.sequence, w.vocab)
            with torch.enable_grad():
                logits = model(torch.tensor([ids]), temperature=q.temperature, trace=trace)[0]  # (T, V)
                loss = all_loss_terms(logits, ids, (q.convention,), w.vocab)[q.convention]["value"]
                names = ("X", "Q", "K", "V", "Z", "R")
                grads = torch.autograd.grad(loss, [trace[0][n] for n in names] + [logits], allow_unused=True,
                                            materialize_grads=True)
            g = {n: t[0].detach() for n, t in zip(names, grads[:-1], strict=True)}  # X, R: (T, d); Q..Z: (H, T, dh)
            g["logits"] = grads[-1].detach()
            self._backward = {"params": res.gradients, "trace": g}
        return self._backward

    def on(self, **changes) -> Explainer:
        """The explainer of the same query with `changes` (another temperature, the stepped weights)."""
        return Explainer(replace(self.query, **changes), self.step)

    def stepped(self) -> GeoffStep:
        """One gradient step of this query (:func:`dlexam.geoff.gradient_step` with `step`), taken once."""
        if self._stepped is None:
            self._stepped = self.step.run(self.query)
        return self._stepped

    # ---- the entry point --------------------------------------------------------------------------------------

    def explain(self, cell: str | Cell) -> Explanation:
        """The arithmetic of `cell` (a name such as "P[3,0]", or a Cell) on this query's model; the explanation
        says which model by its head count (the same name is another number with 1 head and with k)."""
        c = parse_cell(cell, self.space) if isinstance(cell, str) else cell
        if c.matrix == "loss":
            out = explain_loss(self) if c.row is None else explain_loss_term(self, c)
        else:
            out = KINDS.get(c.matrix, explain_gradient)(self, c)
        out.heads = self.query.heads
        return out


def explain(query: GeoffQuery, cell: str | Cell, step: StepSettings | None = None) -> Explanation:
    """The arithmetic of one `cell` of `query`'s run (a name such as "P[3,0]": :mod:`dlexam.geoff.cells`; a gradient
    step's result: of the step `step`, lr 0.1 on W_Q, W_K, W_V, W_O unless given)."""
    return Explainer(query, step).explain(cell)


# ---- one function per kind of cell --------------------------------------------------------------------------

def explain_embedding(ex: Explainer, c: Cell) -> Explanation:
    """X[i, d] = E[token_i, d]: the embedding is a row of E (no positional encodings)."""
    w, tok = ex.query.weights, ex.tokens[c.row]
    v = w.vocab.index(tok)
    e = num(w.E[v][c.col])
    row = [num(x) for x in w.E[v]]
    return Explanation(c, "embedding", ex.title(c), float(ex.result.X[c.row, c.col]), e,
                       f"{ex.title(c)} = E[{tok}, {ex.space.labels['dims'][c.col]}] = {number_text(e)}: the row of "
                       f"position {c.row + 1} is the embedding of {tok}, E's row {tok}",
                       [f"x_{tok} = E[{tok}, :] = {vec(row)}"], [source("E", [(v, c.col)])])


def _product_operands(ex: Explainer, c: Cell):
    """(left name, left vector, right name, right vector, sources) of a product cell."""
    w, h, i, j = ex.query.weights, c.head, c.row, c.col
    tok = ex.tokens[i]
    if c.matrix in ("Q", "K", "V"):
        W = f"W_{c.matrix}"
        proj = w.projections(ex.query.heads)[h or 0][("Q", "K", "V").index(c.matrix)]
        right = [num(r[j]) for r in proj]
        # k heads with weights of their own (a variant's multi_heads): head h's W_Q, named as /geoff's link names it
        own = h if ex.query.heads > 1 and w.multi_heads is not None else None
        name = W if own is None else f"{W}_h{own + 1}"
        return (f"x_{tok}", _rows(ex.result.X)[i], f"{name}[:, {ex.space.labels['head_dims'][j]}]", right,
                [source("X", [(i, d) for d in range(w.d_model)]), source(W, [(d, j) for d in range(w.d_model)], own)])
    if c.matrix == "S":
        Q, K = _rows(ex.matrix("Q", h)), _rows(ex.matrix("K", h))
        return (f"q_{ex.space.label('positions', i)}", Q[i], f"k_{ex.space.label('positions', j)}", K[j],
                [source("Q", [(i, d) for d in range(len(Q[i]))], h), source("K", [(j, d) for d in range(len(K[j]))],
                                                                             h)])
    if c.matrix == "R":
        k = ex.query.heads
        Z = [_rows(ex.matrix("Z", hh if k > 1 else None), not ex.argmax) for hh in range(k)]
        left = [v for z in Z for v in z[i]]  # [Z_1 ... Z_k] row i: (k d_head,)
        out = w.output_matrix(k)
        right = [num(r[j]) for r in getattr(w, out)]
        name = f"z_{ex.space.label('positions', i)}" if k == 1 else \
            f"[{' '.join(f'z{hh + 1}' for hh in range(k))}]_{ex.space.label('positions', i)}"
        return (name, left, f"{out}[:, {ex.space.labels['dims'][j]}]", right,
                [*(source("Z", [(i, d) for d in range(w.d_head)], hh if k > 1 else None) for hh in range(k)),
                 source(out, [(d, j) for d in range(len(right))])])
    R = _rows(ex.result.R, not ex.argmax)
    tok_j = w.vocab[j]
    return (f"r_{ex.space.label('positions', i)}", R[i], f"e_{tok_j}", [num(v) for v in w.E[j]],
            [source("R", [(i, d) for d in range(w.d_model)]), source("E", [(j, d) for d in range(w.d_model)])])


FORMULAS = {"Q": "Q = X W_Q", "K": "K = X W_K", "V": "V = X W_V", "S": "S = Q K^T",
            "logits": "logits = R E^T (E is tied: the logit of token v is r . e_v)"}


def r_formula(heads: int) -> str:
    """R as the model computes it with `heads` heads, as `dlexam geoff` heads its matrix: one head R = Z W_O; k heads
    R = [Z_1 ... Z_k] multi_W_O (Problem 2.4's W_O)."""
    return "R = Z W_O" if heads == 1 else f"R = [{' '.join(f'Z_{h + 1}' for h in range(heads))}] multi_W_O"


def explain_product(ex: Explainer, c: Cell) -> Explanation:
    """A cell of Q, K, V, S = Q K^T, R or the logits: the row of the left matrix times the column of the right."""
    left_name, left, right_name, right, sources = _product_operands(ex, c)
    terms, value = dot(left, right)
    summary = f"{ex.title(c)} = {left_name} . {right_name} = {vec(left)} . {vec(right)} = {terms} = " \
              f"{number_text(value)}"
    formula = FORMULAS.get(c.matrix) or r_formula(ex.query.heads)
    lines = [formula]
    if c.matrix == "S" and c.col > c.row:
        lines.append(f"masked: position {c.col + 1} comes after position {c.row + 1}, so the causal mask hides this "
                     "score and P gives it weight 0")
    return Explanation(c, "product", ex.title(c), float(ex.matrix(c.matrix, c.head)[c.row, c.col]), value, summary,
                       lines, sources)


def explain_scale(ex: Explainer, c: Cell) -> Explanation:
    """sqrt(d_k), the temperature attention is usually run at (the page's and the CLI's T = sqrt): d_k is the width
    of each head's queries and keys, the number of columns of W_Q (and W_K) in the model's weights (the spec's
    d_head), and T its square root as the model itself resolves it (:func:`dlexam.attention.resolve_temperature`)."""
    w = ex.query.weights
    d_k = w.d_head
    r = math.isqrt(d_k)
    computed = Fraction(r) if r * r == d_k else math.sqrt(d_k)
    value = resolve_temperature("sqrt", d_k)
    d_model = len(w.W_Q)
    summary = (f"sqrt(d_k) = sqrt({d_k}) = {value:.4f}: d_k = {d_k}, the width of each head's queries and keys, the "
               f"number of columns of W_Q ({d_model}x{d_k}) and of W_K")
    lines = [f"d_k = {d_k}: W_Q and W_K are d_model x d_k = {d_model}x{d_k} (the model's weights), so each query "
             f"q_i = x_i W_Q and each key k_j = x_j W_K has {d_k} entries, and a score S[i,j] = q_i . k_j is a sum of "
             f"{d_k} products",
             f"T = sqrt(d_k) = sqrt({d_k}) = {value:.4f}: P = softmax(S / T) row by row; for query and key entries "
             "of unit variance a score, a sum of d_k products, has variance d_k, so dividing by sqrt(d_k) keeps the "
             "softmax's inputs at one scale whatever d_k is (the usual temperature; Problem 2.5's remedy for "
             "argmax's frozen W_Q and W_K)"]
    if ex.query.temperature == "sqrt":
        lines.append(f"this model runs at T = sqrt(d_k): every P, Z, R and logit here is at T = {ex.T:.4f}")
    return Explanation(c, "scale", "sqrt(d_k)", value, computed, summary, lines,
                       [source("W_Q", [(i, j) for i in range(d_model) for j in range(d_k)])],
                       "" if isinstance(computed, Fraction) else f"sqrt({d_k})", {"d_k": d_k})


def explain_attention(ex: Explainer, c: Cell) -> Explanation:
    """A row of P (the clicked cell's value among it): argmax's tie rule at T = 0, softmax(s/T) at T > 0, causal."""
    i, h = c.row, c.head
    S, P = ex.matrix("S", h), ex.matrix("P", h)
    n = S.shape[0]
    visible = [num(v) for v in S[i, : i + 1].tolist()]
    row_title = ex.title(Cell("P", i, None, h))
    scores = ", ".join(number_text(s) for s in visible)
    lab = lambda j: ex.space.label("positions", j)  # noqa: E731
    if ex.argmax:
        if all(isinstance(s, Fraction) for s in visible):
            shares, tied = argmax_row(tuple(visible), i + 1)
        else:  # a score that is no small fraction: the model's own ties (within its tolerance)
            tied = [j for j in range(i + 1) if float(P[i, j]) > 0]
            shares = tuple(Fraction(1, len(tied)) if j in tied else Fraction(0) for j in range(i + 1))
        row = [*shares, *[Fraction(0)] * (n - i - 1)]
        share, top = Fraction(1, len(tied)), visible[tied[0]]
        if i == 0:
            summary = f"{row_title}: the first position sees only itself (score {scores}), so all the weight goes " \
                      "there: 1"
        elif len(tied) == i + 1:
            summary = f"{row_title}: the scores {scores} tie, so argmax shares the weight: {share} each"
        elif len(tied) > 1:
            summary = (f"{row_title}: of the visible scores {scores}, the largest, {number_text(top)}, is at "
                       f"{', '.join(lab(j) for j in tied)}: argmax shares the weight, {share} each; the others get 0")
        else:
            summary = (f"{row_title}: of the visible scores {scores}, the largest, {number_text(top)}, is at "
                       f"{lab(tied[0])} alone: all the weight goes there, 1; the others get 0")
        at = "T = 0" if ex.T == 0 else (f"T = {ex.temperature_text()}, below float64's smallest normal number, so "
                                         "S/T overflows and softmax(S/T) is taken at its limit")
        lines = [f"{at}: P = lim_{{T->0+}} softmax(S/T) row by row, causal: the largest visible scores share the "
                 "weight equally"]
        closed = ""
    else:
        T = num(ex.T) if ex.query.temperature != "sqrt" else float(ex.T)
        T = T if T != 0 else float(ex.T)  # a T such as 1e-300 is 0 to format_exact's tolerance, not to softmax
        divide = lambda v: v / T if isinstance(v, Fraction) and isinstance(T, Fraction) else float(v) / float(T)  # noqa: E731
        xs, exponent = [divide(s) for s in visible], "s_ij/T"
        if not all(math.isfinite(x) for x in xs):  # s/T overflows (a tiny T): the attention subtracts the row's
            top_s = max(visible)  # largest score first, and so does its arithmetic (e^(max s/T) cancels)
            xs, exponent = [divide(s - top_s) for s in visible], "(s_ij - max s)/T"
        denominator = sum_of_exps(tuple(xs))
        # the weights from the model's own scores, as the attention computes them: a score of 1e-13 is written 0
        # (format_exact's tolerance), but at T = 1e-300 it is not 0 to the softmax
        floats = S[i].tolist()
        row = softmax_row(floats, i + 1, float(ex.T))
        if len(set(floats[: i + 1])) == 1:
            row[: i + 1] = [Fraction(1, i + 1)] * (i + 1)  # equal scores: exactly 1/(i+1) each
        row[i + 1 :] = [Fraction(0)] * (len(row) - i - 1)  # masked: exactly 0, "0" as P's matrix writes it
        summary = (f"{row_title} = softmax of the visible scores ({scores}) / T at T = {ex.temperature_text()}: "
                   f"P[i, j] = e^({exponent}) / ({denominator})")
        lines = [f"P[{lab(i)}, {lab(j)}] = {exp_text(xs[j])} / ({denominator}) = {number_text(row[j])}"
                 for j in range(i + 1)]
        closed = f"{exp_text(xs[c.col])} / ({denominator})" if c.col is not None and c.col <= i else ""
    if n > i + 1:
        later = f"positions {i + 2}-{n} come" if n > i + 2 else f"position {n} comes"
        lines.append(f"{later} after position {i + 1}: the causal mask gives {'them' if n > i + 2 else 'it'} 0")
    value = P[i].tolist() if c.col is None else float(P[i, c.col])
    computed = row if c.col is None else row[c.col]
    if c.col is not None and (c.col > i or ex.argmax):  # under softmax a visible cell has its own line already
        why = "masked (a later position)" if c.col > i else "its share"
        lines.insert(0, f"{ex.title(c)} = {number_text(computed)} ({why})")
    return Explanation(c, "attention", ex.title(c), value, computed, summary, lines,
                       [source("S", [(i, j) for j in range(i + 1)], h)], closed)


def explain_mix(ex: Explainer, c: Cell) -> Explanation:
    """A row of Z = P V: the values of the positions row i attends to, weighted by P."""
    i, h = c.row, c.head
    P, V = _rows(ex.matrix("P", h), True), _rows(ex.matrix("V", h))
    used = [j for j in range(i + 1) if P[i][j] != 0]
    w = [P[i][j] for j in used]
    z = [total(P[i][j] * V[j][d] if isinstance(P[i][j], Fraction) and isinstance(V[j][d], Fraction)
               else float(P[i][j]) * float(V[j][d]) for j in used) for d in range(len(V[0]))]
    name = lambda j: f"v_{ex.tokens[j]}"  # noqa: E731 - a value depends on its token alone (no positions)
    if len(set(w)) == 1:
        inside = " + ".join(name(j) for j in used)
        mix = inside if w[0] == 1 else f"{number_text(w[0])} ({inside})"
    else:
        mix = " + ".join(f"{number_text(P[i][j])} {name(j)}" for j in used)
    row_title = ex.title(Cell("Z", i, None, h)).replace(", :]", "]")
    summary = f"{row_title} = {mix} = {vec(z)}"
    seen = list(dict.fromkeys(ex.tokens[j] for j in used))
    lines = ["Z = P V: row i mixes the value rows with P's row i as weights",
             ", ".join(f"v_{t} = {vec(V[ex.tokens.index(t)])}" for t in seen)]
    if c.col is not None:
        lines.insert(0, f"{ex.title(c)} = {number_text(z[c.col])}")
    value = ex.matrix("Z", h)[i].tolist() if c.col is None else float(ex.matrix("Z", h)[i, c.col])
    return Explanation(c, "mix", ex.title(c), value, z if c.col is None else z[c.col], summary, lines,
                       [source("P", [(i, j) for j in used], h), source("V", [(j, d) for j in used
                                                                            for d in range(len(V[0]))], h)])


def _term(ex: Explainer, position: int, convention: str):
    """(logit row, LossTerm, the model's -log p) of the target at `position` under `convention`."""
    w = ex.query.weights
    r = position if convention == "exam" else position - 1
    logits = tuple(num(v) for v in ex.result.logits[r].tolist())
    term = loss_term(logits, w.vocab.index(ex.tokens[position]), r + 1, w.vocab)
    model = -float(torch.log_softmax(ex.result.logits[r], dim=-1)[w.vocab.index(ex.tokens[position])])  # the
    # model's own -log p, as its loss computes it (its probability can underflow to 0: e^-2250000)
    return r, term, model


def explain_loss_term(ex: Explainer, c: Cell) -> Explanation:
    """The loss term of the token at position p: -log p(token) from the logits of row p - 1 (teacher forcing: a
    causal decoder predicts the next token) and of row p itself (the exam's worked solution of Problem 2.3)."""
    s, p, tok = ex.start(), c.row, ex.tokens[c.row]
    if p <= s:
        raise UserError(f"loss[{p}]: the loss scores the tokens after <START>, loss[{s + 1}] to "
                        f"loss[{len(ex.tokens) - 1}]")
    parts, per = [], {}
    for conv in ("teacher_forcing", "exam"):
        r, term, model = _term(ex, p, conv)
        parts.append(f"{CONVENTION_SHORT[conv]} scores it with row {r + 1} ({ex.tokens[r]}): p = "
                     f"{term.probability_text} = {term.probability:.4f}, -log p = {term.nll_text} = {term.nll:.4f}")
        per[conv] = {"row": r, "probability_text": term.probability_text, "probability": term.probability,
                     "nll_text": term.nll_text, "nll": term.nll, "value": model}
    rows = sorted({per[conv]["row"] for conv in per})
    lines = [f"logits[{ex.space.label('positions', r)}] = {vec(num(v) for v in ex.result.logits[r].tolist())}"
             for r in rows]
    tf = per["teacher_forcing"]
    return Explanation(c, "loss_term", f"loss[{ex.space.label('positions', p)}]", tf["value"], tf["nll"],
                       f"loss[{p}], the target {tok} at position {p + 1}: " + "; ".join(parts), lines,
                       [source("logits", [(r, v) for r in rows for v in range(len(ex.query.weights.vocab))])],
                       tf["nll_text"], {"conventions": per})


def explain_loss(ex: Explainer) -> Explanation:
    """The whole loss, the sum of the terms of the tokens after <START>, under both conventions."""
    s = ex.start()
    per, lines = {}, []
    for conv in ("teacher_forcing", "exam"):
        terms = [_term(ex, p, conv)[1] for p in range(s + 1, len(ex.tokens))]
        closed = " + ".join(f"[{t.nll_text}]" for t in terms)
        value = math.fsum(t.nll for t in terms)
        per[conv] = {"closed_form": closed, "computed": value, "value": float(ex.result.loss[conv]["value"])}
        lines.append(f"{CONVENTION_SHORT[conv]}: L = {closed} = {value:.4f}")
    tf = per["teacher_forcing"]
    return Explanation(Cell("loss"), "loss", "loss", tf["value"], tf["computed"],
                       f"loss = the sum of -log p(target) over the tokens after <START>: {tf['computed']:.4f} "
                       f"({CONVENTION_SHORT['teacher_forcing']}), {per['exam']['computed']:.4f} "
                       f"({CONVENTION_SHORT['exam']})", lines,
                       [source("logits", [(r, v) for r in range(s, len(ex.tokens))
                                          for v in range(len(ex.query.weights.vocab))])],
                       tf["closed_form"], {"conventions": per})


def explain_gradient(ex: Explainer, c: Cell) -> Explanation:
    """d loss / d W[a, b], the chain rule's last step from the upstream gradients (autograd on the model itself)."""
    b = ex.backward()
    w, k = ex.query.weights, ex.query.heads
    name = {"dE": "E", "dW_O": w.output_matrix(k)}.get(c.matrix, c.matrix[1:])
    g = b["params"][name]
    g = g[c.head or 0] if g.dim() == 3 else g  # k heads: (H, d_model, d_head)
    title = ex.title(c).replace(c.matrix + "[", f"d loss / d {name}[", 1)
    step = last_step(ex, c, name, b["trace"])
    computed = num(math.fsum(step.products), keep_nonzero=True)  # a gradient: tiny is not 0 (cells.num)
    summary = f"{title} = {step.formula} = {step.terms} = {number_text(computed)}"
    return Explanation(c, "gradient", title, float(g[c.row, c.col]), computed, summary, step.lines, step.sources)


# the explanation of each matrix's cells (a loss by its own two; any other name is a gradient's)
KINDS = {"X": explain_embedding, "P": explain_attention, "Z": explain_mix,
         **dict.fromkeys(("Q", "K", "V", "S", "R", "logits"), explain_product),
         "norm": explain_norm, "change": explain_change, "step_norm": explain_step_norm,
         "loss_before": explain_step_loss, "loss_after": explain_step_loss, "sqrt_d_k": explain_scale}
