"""Where Problem 2.5's numbers come from: the gradient norms of its table and the results of one gradient step.

- :func:`explain_norm`: ``norm[W_V]`` (or ``norm[W_V,T=0]``, a row of the table at its own T), the Frobenius norm
  ``|d loss / d W_V| = sqrt(sum of its squared entries)``, written out with the entries, on the model at the T of
  its row (with identical heads, of their summed gradient: they share W_V, and a step applies that sum). At T = 0
  the norms of W_Q and W_K are exactly 0: attention is argmax of the scores, P is piecewise constant in them, so no
  gradient reaches W_Q or W_K (Problem 2.5's point).
- :func:`explain_step_norm`: ``step_norm[W_V]``, the norm of the gradient one step applies to W_V (with identical
  heads their summed gradient: they share W_V), written out entry by entry as ``norm`` is.
- :func:`explain_change`: ``change[W_V]``, one step's largest move ``max |W_V' - W_V| = lr x max |d loss / d W_V|``,
  with the entry where the gradient is largest named (identical heads share W_Q, W_K, W_V: their gradients add).
- :func:`explain_step_loss`: ``loss_before`` and ``loss_after``, the loss the step differentiates (under the query's
  convention) at the weights before the step and at the stepped ones, in closed form.

Each function takes the :class:`dlexam.geoff.explain.Explainer` of the query (`ex`): its backward pass gives the
gradients (autograd on the model itself), its step (:meth:`~dlexam.geoff.explain.Explainer.stepped`,
:func:`dlexam.geoff.gradient_step`) the step's own numbers, which ``value`` carries beside what the arithmetic gives.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction

from dlexam.attention import resolve_temperature
from dlexam.errors import UserError
from dlexam.geoff.cells import Cell, num, short_float, source
from dlexam.geoff.exact import Number, number_text
from dlexam.geoff.explanation import Explanation, total, vec
from dlexam.geoff.model import applied_gradient, frobenius_norm

PROJECTIONS = ("W_Q", "W_K", "W_V")


def _gradient_cell(name: str) -> str:
    """The cell name of `name`'s gradient entries: dE, dW_Q, ..., dW_O (multi_W_O's too)."""
    return "dE" if name == "E" else "dW_O" if name in ("W_O", "multi_W_O") else "d" + name


def _factor(x: Number) -> str:
    """A number inside a formula: negative ones, fractions and e-notation in parentheses."""
    t = number_text(x)
    return f"({t})" if any(ch in t for ch in "-/e") else t


def _root(x: Number) -> Number:
    """sqrt(x): a Fraction where x is the square of one, else a float."""
    if isinstance(x, Fraction):
        n, d = math.isqrt(x.numerator), math.isqrt(x.denominator)
        if n * n == x.numerator and d * d == x.denominator:
            return Fraction(n, d)
    return math.sqrt(float(x))


def _t_text(ex) -> str:
    return ex.temperature_text() + (" (argmax)" if ex.argmax else "")


def _why_frozen(ex, name: str) -> str:
    """Why the gradient of W_Q or W_K is exactly 0 under argmax attention (Problem 2.5)."""
    m = name[-1]
    return (f"at T = 0 attention is argmax of the scores S = Q K^T, and P is piecewise constant in them: a small "
            f"change of {name} changes no comparison (unless it breaks a tie of different tokens, where P jumps: "
            f"the 0 is then backpropagation's, taken on argmax's constant pieces), so no gradient reaches {m} nor "
            f"{name} (Problem 2.5: under argmax "
            f"attention {name} never moves; the exam's remedy, softmax at T = sqrt(d_k), gives it a gradient)")


def _rows_text(m, keep_nonzero: bool = False) -> str:
    """A matrix as text; `keep_nonzero` for a gradient (cells.num: its tiny entries at a small T are not 0)."""
    return "(" + ", ".join(vec(num(v, keep_nonzero) for v in row) for row in m) + ")"


def _norm_arithmetic(matrices) -> tuple[list[Number], Number, str]:
    """(the entries of `matrices` as numbers, their Frobenius norm, the arithmetic that gives it written out)."""
    entries = [num(v, keep_nonzero=True) for m in matrices for v in m.flatten().tolist()]  # gradients
    sum_sq = total([x * x if isinstance(x, Fraction) else float(x) ** 2 for x in entries])
    squares = f"sqrt(the sum of the squares of its {len(entries)} entries) = " \
              f"sqrt({' + '.join(f'{_factor(x)}^2' for x in entries)})"
    big = max((abs(float(x)) for x in entries), default=0.0)
    if isinstance(sum_sq, Fraction) or big == 0 or sys.float_info.min <= sum_sq < math.inf:
        root = _root(sum_sq)
        return entries, root, f"{squares} = sqrt({number_text(sum_sq)}) = {number_text(root)}"
    # the squares underflow (entries of 3e-200 at T = 1e200: the sum read 0) or overflow float64: the largest |entry|
    # is taken out of the root first, as frobenius_norm does
    scaled = math.fsum((float(x) / big) ** 2 for x in entries)
    root = big * math.sqrt(scaled)
    b, size = number_text(big), "small" if big < 1 else "large"
    return entries, root, (f"{squares} = {b} x sqrt(the sum of the squares of the entries / {b}, the largest "
                           f"|entry|) = {b} x sqrt({number_text(scaled)}) = {number_text(root)} (the squares of "
                           f"entries this {size} leave float64's range, so the largest |entry| is taken out of the "
                           "root first)")


def explain_norm(ex, c: Cell) -> Explanation:
    """|d loss / d W| of Problem 2.5's table, on the model at the T of the cell's row (the query's where none)."""
    at = ex
    if c.temperature is not None and resolve_temperature(c.temperature, ex.query.weights.d_head) != ex.T:
        at = ex.on(temperature=c.temperature)  # another row of the table: that T's model (same weights and input)
    name, q = c.parameter, at.query
    g = at.backward()["params"][name]
    applied = applied_gradient(q.weights, name, g)  # identical heads share the matrix: their gradients add
    shared = applied.dim() < g.dim()
    heads = list(g) if g.dim() == 3 else [g]  # k heads: (H, d_model, d_head), each head's own gradient
    per = [applied] if shared else heads  # what a step applies: the sum, or each head's own matrix's gradient
    entries, root, arithmetic = _norm_arithmetic(per)
    zero = all(float(v) == 0 for m in per for v in m.flatten().tolist())
    conv = q.convention.replace("_", " ")
    title = f"|d loss / d {name}| at T = {_t_text(at)}"
    summary = f"{title} = {arithmetic}"
    lines = [f"d loss / d {name}" + (f" (head {h + 1})" if len(heads) > 1 else "")
             + f" = {_rows_text(m.tolist(), True)}" for h, m in enumerate(heads)]
    lines.append(f"the gradient of the {conv} loss by autograd on the model at T = {_t_text(at)} (its entries: "
                 f"{_gradient_cell(name)}[...] at that T)")
    if shared:
        k, gname = len(heads), _gradient_cell(name)
        lines.append(f"the {k} identical heads share {name}: its gradient, the one a gradient step applies, is the sum "
                     f"of the heads' parts, d loss / d {name} = " + " + ".join(f"{gname}[h{h + 1}]" for h in range(k))
                     + f" = {_rows_text(applied.tolist(), True)}; the norm is that sum's (the parts' own norms: "
                     + ", ".join(short_float(frobenius_norm(m)) for m in heads) + ")")
    elif len(heads) > 1:
        lines.append(f"with {len(heads)} heads each head has its own {name} and its own gradient: the norm is over all "
                     f"{len(entries)} entries")
    if zero and at.argmax and name in ("W_Q", "W_K"):
        lines.insert(0, f"every entry is exactly 0, so the norm is 0: {_why_frozen(at, name)}")
    elif zero:
        lines.insert(0, f"every entry is 0 (the loss is stationary in {name} here), so the norm is 0")
    if at is not ex:
        lines.append(f"Problem 2.5's row at T = {_t_text(at)}: explained on the model at that T (the same weights, "
                     f"input and loss), not at the query's T = {_t_text(ex)}")
    rows, cols = heads[0].shape
    sources = [source(_gradient_cell(name), [(i, j) for i in range(rows) for j in range(cols)],
                      h if len(heads) > 1 else None) for h in range(len(heads))]
    return Explanation(c, "norm", title, frobenius_norm(applied), root, summary, lines, sources,
                       extra={"temperature": at.T, "temperature_text": _t_text(at), "convention": q.convention,
                              "vanishes": zero})


def explain_change(ex, c: Cell) -> Explanation:
    """max |change| of a matrix in one gradient step: lr x the largest |entry| of its gradient (named)."""
    step, name, w, lr = ex.stepped(), c.parameter, ex.query.weights, ex.step.lr
    if name not in step.change:
        raise UserError(f"change[{name}]: {name} was not stepped: this step moves {', '.join(step.change)} (add it to "
                        "the step's matrices: the page's 'E too', the API's matrices, --step-matrices)")
    g = ex.backward()["params"][name]
    k = g.shape[0] if g.dim() == 3 else 1
    gname = _gradient_cell(name)
    lines = [f"one step of gradient descent: {name} <- {name} - {short_float(lr)} x d loss / d {name} (the "
             f"{ex.query.convention.replace('_', ' ')} loss at T = {_t_text(ex)}): each entry moves by lr x its "
             "gradient entry, so the largest move is at the largest |gradient| entry"]
    applied = applied_gradient(w, name, g)  # identical heads share the matrix: their gradients add
    if g.dim() == 3 and applied.dim() == 2:
        per = [(None, applied)]  # (d_model, d_head)
        lines.append(f"the {k} heads share {name} (identical heads): its gradient is the sum of the heads' "
                     f"gradients, d loss / d {name} = " + " + ".join(f"{gname}[h{h + 1}]" for h in range(k)))
    elif g.dim() == 3:
        per = list(enumerate(g))
        lines.append(f"each of the {k} heads has its own {name} and takes its own step: the largest move over them")
    else:
        per = [(None, g)]
    h, a, b, value = max(((h, a, b, float(m[a, b])) for h, m in per for a in range(m.shape[0])
                          for b in range(m.shape[1])), key=lambda t: abs(t[3]))
    entry = Cell(gname, a, b, h)
    entry_title = ex.title(entry).replace(gname + "[", f"d loss / d {name}[", 1)
    gval, lr_n = num(value, keep_nonzero=True), num(lr)
    computed = lr_n * abs(gval) if isinstance(gval, Fraction) and isinstance(lr_n, Fraction) else lr * abs(value)
    head = f"max |change of {name}| = lr x max |d loss / d {name}|"
    if value == 0:
        summary = f"{head} = {short_float(lr)} x 0 = 0: every entry of d loss / d {name} is 0, so {name} does not move"
        if ex.argmax and name in ("W_Q", "W_K"):
            lines.insert(0, f"{name} is frozen: {_why_frozen(ex, name)}")
    else:
        summary = (f"{head} = {short_float(lr)} x |{entry_title}| = {short_float(lr)} x |{number_text(gval)}| = "
                   f"{number_text(computed)}")
        if g.dim() == 3 and w.multi_heads is None:
            lines.append(f"{entry_title} = " + " + ".join(_factor(num(float(gh[a, b]), keep_nonzero=True)) for gh in g)
                         + f" = {number_text(gval)}")
    return Explanation(c, "change", f"max |change| of {name} in one step (lr {short_float(lr)})", step.change[name],
                       computed, summary, lines, [source(gname, [(a, b)], h)],
                       extra={"lr": lr, "moved": step.moved[name], "matrices": list(step.change),
                              "convention": ex.query.convention,
                              "entry": {"cell": entry.name, "title": entry_title, "gradient": value}})


def explain_step_norm(ex, c: Cell) -> Explanation:
    """|the gradient one gradient step applies to a matrix| (the step table's |gradient|): with k identical heads the
    heads share W_Q, W_K, W_V, and the step moves each by lr x the heads' summed gradient (model.applied_gradient),
    so its norm is that sum's, as norm[W] (Problem 2.5's table) at the step's T is."""
    step, name, w = ex.stepped(), c.parameter, ex.query.weights
    if name not in step.change:
        raise UserError(f"step_norm[{name}]: {name} was not stepped: this step moves {', '.join(step.change)} (add it "
                        "to the step's matrices: the page's 'E too', the API's matrices, --step-matrices)")
    g = ex.backward()["params"][name]
    applied = applied_gradient(w, name, g)
    gname, k = _gradient_cell(name), g.shape[0] if g.dim() == 3 else 1
    per = list(applied) if applied.dim() == 3 else [applied]
    _, root, arithmetic = _norm_arithmetic(per)
    title = f"|gradient| of {name} in one step (lr {short_float(ex.step.lr)})"
    lines = [f"the gradient the step applies: {name} <- {name} - {short_float(ex.step.lr)} x d loss / d {name} (the "
             f"{ex.query.convention.replace('_', ' ')} loss at T = {_t_text(ex)}, on the weights before the step)"]
    if applied is not g:  # identical heads share the matrix: their gradients add
        lines.append(f"the {k} heads share {name} (identical heads): its gradient is the sum of the heads' "
                     f"gradients, d loss / d {name} = " + " + ".join(f"{gname}[h{h + 1}]" for h in range(k))
                     + f" = {_rows_text(applied.tolist(), True)}")
        lines.append(f"its norm is the sum's, the number Problem 2.5's table shows for {name} at this T (norm[{name}])")
    else:
        lines += [f"d loss / d {name}" + (f" (head {h + 1}, its own {name})" if len(per) > 1 else "")
                  + f" = {_rows_text(m.tolist(), True)}" for h, m in enumerate(per)]
    rows, cols = g.shape[-2:]
    sources = [source(gname, [(i, j) for i in range(rows) for j in range(cols)], h if g.dim() == 3 else None)
               for h in range(k)]
    return Explanation(c, "step_norm", title, step.gradient_norms[name], root, f"|d loss / d {name}| = {arithmetic}",
                       lines, sources, extra={"lr": ex.step.lr, "matrices": list(step.change),
                                              "convention": ex.query.convention, "temperature": ex.T})


def _stepped_lines(ex, step) -> list[str]:
    """Each stepped matrix after the step: W - lr x d loss / d W, its numbers."""
    lr, before, after, out = short_float(ex.step.lr), step.before, step.after, []
    own = ex.query.heads > 1 and before.multi_heads is not None  # heads with projections of their own
    for name, change in step.change.items():
        formula = f"{name} - {lr} x d loss / d {name}"
        if change == 0:
            out.append(f"{formula} = {name}: unchanged (its gradient is 0)")
        elif own and name in PROJECTIONS:
            i = PROJECTIONS.index(name)
            out += [f"head {h + 1}: {formula} = {_rows_text(m[i])}" for h, m in enumerate(after.multi_heads)]
        else:
            out.append(f"{formula} = {_rows_text(getattr(after, name))}")
    return out


def explain_step_loss(ex, c: Cell) -> Explanation:
    """The loss a gradient step differentiates (the query's convention), before the step or at the stepped weights."""
    step, conv = ex.stepped(), ex.query.convention
    after = c.matrix == "loss_after"
    at = ex.on(weights=step.after) if after else ex
    whole = at.explain(Cell("loss"))
    loss = whole.extra["conventions"][conv]
    words, lr = conv.replace("_", " "), short_float(ex.step.lr)
    moved = ", ".join(step.change)
    if after:
        title = f"loss after the step (lr {lr})"
        summary = (f"loss after the step = the {words} loss at the stepped weights ({moved} each minus {lr} x its "
                   f"gradient) = {loss['closed_form']} = {loss['computed']:.4f}")
        lines = _stepped_lines(ex, step)
    else:
        title = "loss before the step"
        summary = (f"loss before the step = the {words} loss the step differentiates, at the weights before it = "
                   f"{loss['closed_form']} = {loss['computed']:.4f}")
        lines = [f"the step moves {moved} against its gradient by lr = {lr}"]
    change = step.loss_after - step.loss_before
    lines.append(f"loss {step.loss_before:.4f} before, {step.loss_after:.4f} after: "
                 f"{'down' if change < 0 else 'up'} by {abs(change):.4f}")
    value = step.loss_after if after else step.loss_before
    return Explanation(c, "step_loss", title, value, loss["computed"], summary, lines, whole.sources,
                       loss["closed_form"], {"lr": ex.step.lr, "convention": conv, "matrices": list(step.change),
                                             "loss_before": step.loss_before, "loss_after": step.loss_after})
