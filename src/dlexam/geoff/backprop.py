"""The chain rule's last step for one entry of a gradient of Geoff's transformer (Problem 2.5), as text and terms.

Each parameter meets the loss through one product, so one entry of its gradient is a sum of products of a forward
value and an upstream gradient:

    d loss / d W_V[a, b] = sum_i X[i, a] dL/dV[i, b]       (V = X W_V; W_Q and W_K likewise through Q and K)
    d loss / d W_O[a, b] = sum_i Z[i, a] dL/dR[i, b]       (R = Z W_O; k heads: [Z_1 .. Z_k] multi_W_O)
    d loss / d E[v, d]   = sum_{i: token i is v} dL/dX[i, d] + sum_i dL/dlogits[i, v] R[i, d]
                           (E enters twice: X = rows of E, and the tied logits = R E^T)

The upstream gradients (dL/dV, dL/dR, ...) are autograd's on the model itself
(:meth:`dlexam.geoff.explain.Explainer.backward`), so the sum is checked against run_geoff's own parameter
gradient. Under argmax attention dL/dQ = dL/dK = 0: P is piecewise constant in the scores (Problem 2.5).
"""

from __future__ import annotations

from dataclasses import dataclass

from dlexam.geoff.cells import Cell, num, source
from dlexam.geoff.exact import number_text


@dataclass
class LastStep:
    formula: str  # "sum over i of X[i, d1] dL/dV[i, d2]"
    terms: str  # the non-zero terms written out
    products: list[float]  # every term (zeros included), summed by the caller
    lines: list[str]
    sources: list[dict]


def _f(x: float) -> str:
    """A factor: exact where it is a small fraction (an embedding's 1, a value's 3/2), else 4 decimals; negative
    ones in parentheses. A tiny upstream gradient (-8.0e-19 at T = 0.2) is that number, not 0 (cells.num)."""
    t = number_text(num(x, keep_nonzero=True))
    return f"({t})" if t.startswith("-") else t


def _entry(x) -> str:
    """An upstream gradient's entry as the gradient matrices write it (format_exact, a non-zero one never 0): an exact
    0 is "0" (the entries before <START> were "0.0000" here until 2026-12-07, "0" in the matrices)."""
    return number_text(num(float(x), keep_nonzero=True))


def _terms(pairs: list[tuple[float, float, str]]) -> tuple[str, list[float]]:
    products = [a * b for a, b, _ in pairs]
    shown = [f"{_f(a)}*{_f(b)} [{where}]" for a, b, where in pairs if a * b != 0]
    return (" + ".join(shown) if shown else "0 (every term is 0)"), products


def _upstream(ex) -> list[str]:
    """How the loss's gradient reaches R and Z, in words."""
    s = ex.start()
    n = len(ex.tokens)
    rows = range(s + 1, n) if ex.query.convention == "exam" else range(s, n - 1)
    return [f"dL/dlogits[i] = softmax(logits[i]) - onehot(target of row i) on the rows that score a target "
            f"(positions {', '.join(str(r + 1) for r in rows)}, {ex.query.convention.replace('_', ' ')}), 0 on the "
            "others",
            "dL/dR = dL/dlogits E;  dL/dZ = dL/dR W_O^T (this head's block of rows)"]


def last_step(ex, c: Cell, name: str, g: dict) -> LastStep:
    """The last step of the chain rule for entry (c.row, c.col) of d loss / d `name` of the run of `ex` (a
    :class:`dlexam.geoff.explain.Explainer`); `g` holds the upstream gradients (X, Q, K, V, Z, R, logits) of its
    :meth:`~dlexam.geoff.explain.Explainer.backward`."""
    a, b, T = c.row, c.col, len(ex.tokens)
    X, R = ex.result.X.tolist(), ex.result.R.tolist()
    lab = lambda i: ex.space.label("positions", i)  # noqa: E731
    if name in ("W_Q", "W_K", "W_V"):
        m = name[-1]
        h = c.head or 0
        up = g[m][h]  # (T, d_head): dL/dQ (or K, V) of this head
        terms, products = _terms([(X[i][a], float(up[i, b]), lab(i)) for i in range(T)])
        dims = ex.space.labels
        lines = [f"{m} = X {name}: each entry of {name} meets the loss through column {dims['head_dims'][b]} of {m}",
                 f"dL/d{m}[:, {dims['head_dims'][b]}] = (" + ", ".join(_entry(v) for v in up[:, b]) + ")"]
        if m == "V":
            lines.append("dL/dV = P^T dL/dZ: a value row gets the gradient of every row that attends to it, "
                         "weighted by P")
        elif ex.argmax:
            lines.append(f"dL/d{m} = 0: under argmax attention P is piecewise constant in S = Q K^T (a small change "
                         f"of {name} changes no comparison, unless it breaks a tie of different tokens, where P "
                         f"jumps), so backpropagation passes no gradient to {m} nor {name} (Problem 2.5)")
        else:
            lines.append(f"dL/d{m} = " + ("dL/dS K" if m == "Q" else "dL/dS^T Q") + ", dL/dS = P * (dL/dP - "
                         "rowsum(P * dL/dP)) / T (softmax's Jacobian), dL/dP = dL/dZ V^T")
        lines += _upstream(ex)
        return LastStep(f"sum over i of X[i, {dims['dims'][a]}] dL/d{m}[i, {dims['head_dims'][b]}]", terms, products,
                        lines, [source("X", [(i, a) for i in range(T) if X[i][a] != 0]),
                                source(m, [(i, b) for i in range(T)], c.head)])
    if name in ("W_O", "multi_W_O"):
        k, dh = ex.query.heads, ex.query.weights.d_head
        h, d = divmod(a, dh)  # row a of the output matrix is dimension d of head h's Z
        Z = (ex.result.Z if k == 1 else ex.result.Z[h]).tolist()
        terms, products = _terms([(Z[i][d], float(g["R"][i, b]), lab(i)) for i in range(T)])
        zname, out = ("Z" if k == 1 else f"Z_{h + 1}"), ex.space.labels["dims"][b]
        up = ", ".join(_entry(v) for v in g["R"][:, b])
        concat = "Z" if k == 1 else "[" + " ".join(f"Z_{i + 1}" for i in range(k)) + "]"  # [Z_1 Z_2] with k = 2
        return LastStep(f"sum over i of {zname}[i, d{d + 1}] dL/dR[i, {out}]", terms,
                        products, [f"R = {concat} {name}: row {a} of {name} multiplies {zname}'s column d{d + 1}",
                                   f"dL/dR[:, {out}] = ({up})", *_upstream(ex)],
                        [source("Z", [(i, d) for i in range(T)], h if k > 1 else None),
                         source("R", [(i, b) for i in range(T)])])
    v, tok = a, ex.query.weights.vocab[a]
    at = [i for i in range(T) if ex.tokens[i] == tok]
    pairs = [(1.0, float(g["X"][i, b]), f"x_{lab(i)}") for i in at]
    pairs += [(R[i][b], float(g["logits"][i, v]), f"logit {lab(i)}") for i in range(T)]
    terms, products = _terms(pairs)
    d = ex.space.labels["dims"][b]
    return LastStep(f"sum over the positions of {tok} of dL/dX[i, {d}] + sum over i of R[i, {d}] dL/dlogits[i, {tok}]",
                    terms, products,
                    [f"E enters twice: X = the rows of E for the tokens ({tok} at position(s) "
                     f"{', '.join(str(i + 1) for i in at) or 'none'}), and the tied output, logits = R E^T (column "
                     f"{tok})",
                     "dL/dX = dL/dQ W_Q^T + dL/dK W_K^T + dL/dV W_V^T (summed over the heads)", *_upstream(ex)],
                    [source("X", [(i, b) for i in at]), source("logits", [(i, v) for i in range(T)]),
                     source("R", [(i, b) for i in range(T)])])
