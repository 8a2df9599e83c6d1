"""Part 1, questions 2 and 3: logistic regression. On separable data its loss has no minimiser (P1.2); the SGD
update of cross-entropy plus a squared infinity-norm penalty (P1.3).

Every option is checked by computation: autograd, a directional-derivative search over random weights, the
subgradient inequality at a tie.
"""

from __future__ import annotations

import torch
from torch import nn

from dlexam.answers import choices
from dlexam.answers.registry import Answer, difference, question

DT = torch.float64


# ---- P1.2 separable logistic regression ------------------------------------------------------

P12_OPTIONS = ["one global minimum.", "no global minima.", "several global minima.", "several local minima."]
P12_SOLUTION = "is a strictly decreasing function of α that satisfies"


def separable_data(n: int = 40, d: int = 3, seed: int = 12):
    """A linearly separable set: x = (1, features), y = sign(w*^T x), points within 0.1 of the plane dropped."""
    g = torch.Generator().manual_seed(seed)
    w_star = torch.randn(d, generator=g, dtype=DT)
    x = torch.cat([torch.ones(4 * n, 1, dtype=DT), torch.randn(4 * n, d - 1, generator=g, dtype=DT) * 2], 1)
    margin = x @ w_star
    keep = margin.abs() > 0.1
    x, margin = x[keep][:n], margin[keep][:n]
    return x, torch.sign(margin), w_star


def logistic_loss(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The exam's L(w): sum over positives of log(1+exp(-w.x)) plus over negatives of log(1+exp(w.x))."""
    return nn.functional.softplus(-y * (x @ w)).sum()


@question("P1.2")
def p1_2() -> Answer:
    x, y, w_star = separable_data()
    separable = bool(((y * (x @ w_star)) > 0).all())
    alphas = [0.0, 0.5, 1, 2, 4, 8, 16, 32, 64, 128]
    losses = [float(logistic_loss(a * w_star, x, y)) for a in alphas]
    decreasing = all(b < a for a, b in zip(losses, losses[1:], strict=False))

    # no stationary point anywhere: the directional derivative along w* is < 0 at every w
    g = torch.Generator().manual_seed(13)
    ws = torch.randn(500, x.shape[1], generator=g, dtype=DT) * torch.logspace(-2, 2, 500, dtype=DT)[:, None]
    ws.requires_grad_(True)
    total = nn.functional.softplus(-y * (ws @ x.T)).sum()  # sum over the 500 w of L(w)
    (grads,) = torch.autograd.grad(total, ws)
    max_directional = float((grads @ w_star).max())
    min_grad_norm = float(grads.norm(dim=1).min())

    # convex: the Hessian sum_i s_i(1-s_i) x_i x_i^T is positive semi-definite
    min_eig = min(float(torch.linalg.eigvalsh(torch.autograd.functional.hessian(
        lambda w: logistic_loss(w, x, y), ws[i].detach())).min()) for i in range(0, 500, 100))

    # gradient descent: the loss goes to 0 and ||w|| keeps growing
    w = torch.zeros(x.shape[1], dtype=DT, requires_grad=True)
    trace = []
    for step in range(1, 1001):
        loss = logistic_loss(w, x, y)
        (gw,) = torch.autograd.grad(loss, w)
        with torch.no_grad():
            w -= 0.5 * gw
        if step in (1, 10, 100, 1000):  # the loss and ||w|| of one point, w after `step` steps
            trace.append({"step": step, "loss": float(logistic_loss(w.detach(), x, y)),
                          "norm_w": w.detach().norm().item()})

    # L is differentiable, so any minimiser (local or global) would be a stationary point; a strictly
    # negative directional derivative along w* everywhere rules all of them out.
    no_stationary = max_directional < 0
    holds = [not no_stationary, no_stationary, not no_stationary, not no_stationary]
    ch = choices.decide(P12_OPTIONS, holds, asks_for_true=True)
    return Answer(
        id="P1.2",
        question="On linearly separable data, how many minima has the logistic loss?",
        exam_answer=ch.exam_answer(P12_OPTIONS) + " (L(a w*) strictly decreasing to 0)",
        computed=(f"L(a w*) strictly decreasing: {losses[0]:.3g} at a=0 to {losses[-1]:.2e} at a={alphas[-1]}; "
                  f"grad . w* < 0 at all 500 random w (max {max_directional:.2e}): no minimiser"),
        verdict=ch.verdict,
        explanation=ch.explanation(P12_OPTIONS),
        evidence={
            **ch.evidence(),
            "n_points": int(x.shape[0]), "separable": separable,
            "loss_along_a_w_star": dict(zip([str(a) for a in alphas], losses, strict=True)),
            "strictly_decreasing": decreasing,
            "max_directional_derivative_along_w_star": max_directional,
            "min_gradient_norm_over_random_w": min_grad_norm,
            "min_hessian_eigenvalue": min_eig,
            "gradient_descent": trace,
            "options": [
                {"option": 1, "holds": holds[0], "why": "no point attains the infimum 0"},
                {"option": 2, "holds": holds[1], "why": "grad L(w) . w* = -sum sigma(-y w.x) y w*.x < 0 for every w"},
                {"option": 3, "holds": holds[2], "why": "no minimiser at all"},
                {"option": 4, "holds": holds[3], "why": "a local minimum would be a stationary point; L is also "
                                                        "convex (Hessian PSD)"},
            ],
        },
        notes=["The loss is strictly positive (every term log(1+e^u) > 0) with infimum 0: bounded below, not "
               "attained."],
        exam_quotes=[*P12_OPTIONS, P12_SOLUTION],
    )


# ---- P1.3 SGD update with a squared infinity-norm penalty ------------------------------------

P13_OPTIONS = [
    "w \\leftarrow w - \\eta \\left((\\mathbb{P}(y = +1 \\mid \\boldsymbol{x}) - y) x + \\lambda \\boldsymbol{w} "
    "\\odot \\boldsymbol{e}_{\\operatorname{argmax}((|w_1|,...,|w_D|))} \\right)",
    "w \\leftarrow w - \\eta \\left((\\mathbb{P}(y = +1 \\mid \\boldsymbol{x}) - y) x + \\lambda \\boldsymbol{w} "
    "\\odot \\boldsymbol{e}_{\\operatorname{argmax}((|x_1|,...,|x_D|))} \\right)",
    "w \\leftarrow w - \\eta \\left((\\mathbb{P}(y = +1 \\mid \\boldsymbol{x}) - y) x + \\lambda "
    "\\boldsymbol{e}_{\\operatorname{argmax}((|w_1|,...,|w_D|))} \\right)",
    "w \\leftarrow w - \\eta \\left((\\mathbb{P}(y = +1 \\mid \\boldsymbol{x}) - y) x + \\lambda "
    "\\boldsymbol{e}_{\\operatorname{argmax}((|x_1|,...,|x_D|))} \\right)",
]
P13_SHORT = ["w <- w - eta((P(y=+1|x) - y) x + lambda w ⊙ e_argmax|w|)", "... lambda w ⊙ e_argmax|x|",
             "... lambda e_argmax|w|", "... lambda e_argmax|x|"]  # the options, in a line each
P13_TYPO_ABS = "2w_i, & w_i \\ge w_j, \\ \\forall j \\ne i"
P13_TYPO_Y = "\\left(-y_i \\log(\\mathbb{P}(y = +1 \\,|\\, \\boldsymbol{x})) - (1 - y) \\log"


def penalised_loss(w, x, y, lam):
    """Problem 1.3's loss on one example: cross-entropy + (lambda/2) ||w||_inf^2."""
    p = torch.sigmoid(w @ x)
    return -y * torch.log(p) - (1 - y) * torch.log(1 - p) + lam / 2 * w.abs().max() ** 2


def p13_candidates(w, x, y, lam, eta):
    """The four options' updates, in the exam's order."""
    p = torch.sigmoid(w @ x)
    e_w = torch.zeros_like(w)
    e_w[int(w.abs().argmax())] = 1
    e_x = torch.zeros_like(w)
    e_x[int(x.abs().argmax())] = 1
    base = (p - y) * x
    return [w - eta * (base + lam * w * e_w), w - eta * (base + lam * w * e_x),
            w - eta * (base + lam * e_w), w - eta * (base + lam * e_x)]


@question("P1.3")
def p1_3() -> Answer:
    g = torch.Generator().manual_seed(3)
    D, lam, eta, trials = 5, 0.3, 0.1, 50
    max_err = [0.0] * 4
    for _ in range(trials):
        w = (torch.randn(D, generator=g, dtype=DT) * 2).requires_grad_(True)
        x = torch.cat([torch.ones(1, dtype=DT), torch.randn(D - 1, generator=g, dtype=DT) * 2])
        y = float(torch.randint(0, 2, (1,), generator=g))
        (grad,) = torch.autograd.grad(penalised_loss(w, x, y, lam), w)
        reference = w.detach() - eta * grad
        for i, cand in enumerate(p13_candidates(w.detach(), x, y, lam, eta)):
            max_err[i] = max(max_err[i], float((cand - reference).abs().max()))
    holds = [e < 1e-12 for e in max_err]

    # At a tie |w_1| = |w_3| the max is not differentiable: option 1 (first argmax) is still a
    # subgradient. Check the subgradient inequality f(v) >= f(w) + g.(v - w) on random v.
    w_tie = torch.tensor([2.0, -0.5, -2.0, 1.0, 0.3], dtype=DT)
    x_tie = torch.tensor([1.0, 0.4, -1.2, 0.7, 2.0], dtype=DT)
    y_tie = 1.0
    step = (w_tie - p13_candidates(w_tie, x_tie, y_tie, lam, 1.0)[0])  # eta = 1: the direction itself
    f0 = float(penalised_loss(w_tie, x_tie, y_tie, lam))
    vs = w_tie + torch.randn(2000, D, generator=g, dtype=DT)
    slack = min(float(penalised_loss(v, x_tie, y_tie, lam)) - f0 - float(step @ (v - w_tie)) for v in vs)
    wt = w_tie.clone().requires_grad_(True)
    (autograd_tie,) = torch.autograd.grad(penalised_loss(wt, x_tie, y_tie, lam), wt)

    # The solution's case condition "w_i >= w_j" (without absolute values) picks the wrong entry
    # when the largest magnitude is negative: w = (-3, 1).
    w_neg = torch.tensor([-3.0, 1.0], dtype=DT, requires_grad=True)
    (true_grad,) = torch.autograd.grad(w_neg.abs().max() ** 2, w_neg)
    i_literal = int(w_neg.detach().argmax())  # the entry with w_i >= w_j
    literal = torch.zeros(2, dtype=DT)
    literal[i_literal] = 2 * w_neg.detach()[i_literal]

    ch = choices.decide(P13_OPTIONS, holds, asks_for_true=True)
    return Answer(
        id="P1.3",
        question="SGD update for cross-entropy + (lambda/2)||w||_inf^2",
        exam_answer=ch.exam_answer(P13_SHORT),
        computed=(f"only option {', '.join(map(str, ch.computed))} matches autograd on {trials} random draws "
                  f"(max error {difference(max_err[0])}; the others are off by up to {max(max_err[1:]):.2f})"),
        verdict=ch.verdict,
        explanation=ch.explanation(P13_SHORT),
        evidence={
            **ch.evidence(),
            "lambda": lam, "eta": eta, "trials": trials,
            "options": [{"option": i + 1, "holds": holds[i], "max_abs_error_vs_autograd": max_err[i]}
                        for i in range(4)],
            "tie_subgradient_check": {
                "w": w_tie.tolist(), "option1_direction": step.tolist(),
                "min_slack_of_subgradient_inequality_over_2000_v": slack,
                "autograd_at_tie": autograd_tie.tolist(),
                "note": "at a tie autograd splits the penalty gradient between the tied entries; "
                        "option 1 takes the first argmax; both are subgradients",
            },
            "solution_typo_example": {"w": [-3.0, 1.0], "true_gradient_of_norm_squared": true_grad.tolist(),
                                      "with_literal_condition_w_i>=w_j": literal.tolist()},
        },
        notes=[
            "Typo in the solution: the case condition 'w_i >= w_j' must compare magnitudes, |w_i| >= |w_j|; taken "
            f"literally it gives {literal.tolist()} for w = (-3, 1) instead of {true_grad.tolist()}.",
            "The solution mixes y_i and y in one expression ('-y_i log P(y=+1|x) - (1-y) log ...'); both mean the "
            "label of the single example the SGD step uses.",
            "The factor 2 of d/dw ||w||^2_inf = 2 w ⊙ e_k cancels the 1/2 of (lambda/2): the update has lambda w ⊙ "
            "e_k.",
            "Subgradient: at ties (|w_i| = |w_j| maximal) the max is not differentiable; w ⊙ e_argmax is then a "
            f"valid subgradient (minimum slack of the subgradient inequality {slack:.3g} >= 0).",
        ],
        exam_quotes=[*P13_OPTIONS, P13_TYPO_ABS, P13_TYPO_Y],
    )
