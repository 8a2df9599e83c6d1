"""Part 2: short answers about minibatch size, sigmoid/tanh gradients and skip connections.

These are claims in words, so the verdict is ``conceptual``. Each one shows a small computation
that bears on the claim now, and names the `dlexam experiment` that measures it at scale.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from dlexam.answers.registry import Answer, question

DT = torch.float64

P21_SOLUTION = ("Small minibatches lead to faster updates, more exploration of the loss landscape (can help escape "
                "local minima) but yield noisier gradient estimates")
P21_LARGE = ("Large minibatches provide more accurate gradient estimates, potentially faster convergence in terms "
             "of iterations, but are slower to compute with higher memory usage")
P22_SOLUTION = ("Sigmoid and tanh activation functions cause vanishing gradients, as gradients go to zero "
                "exponentially for large positive or negative inputs.")
P22_RELU = "The ReLU activation function mitigates this issue by allowing gradients to propagate for positive inputs."
P23_SOLUTION = ("Skip connections are shortcuts in neural networks that allow data to flow past some layers. This "
                "helps gradients flow better in backpropagation and allows the network to reuse features learned in "
                "earlier layers.")
P23_OVERFIT = "They also act as a safeguard against overfitting"


@question("P2.1")
def p2_1() -> Answer:
    """Minibatch size: gradient noise falls like 1/B while the cost of one update grows with B."""
    g = torch.Generator().manual_seed(21)
    n, d = 8192, 32
    x = torch.randn(n, d, generator=g, dtype=DT)
    w_true = torch.randn(d, generator=g, dtype=DT)
    y = (torch.rand(n, generator=g, dtype=DT) < torch.sigmoid(x @ w_true)).to(DT)
    w = torch.zeros(d, dtype=DT)

    def grad(idx: torch.Tensor) -> torch.Tensor:  # logistic-regression gradient on the rows idx
        xb = x[idx]
        return xb.T @ (torch.sigmoid(xb @ w) - y[idx]) / len(idx)

    full = grad(torch.arange(n))
    rows = []
    for b in (1, 8, 64, 512, 4096):
        draws = 200
        idx = torch.randint(0, n, (draws, b), generator=g)
        gs = torch.stack([grad(i) for i in idx])  # (draws, d)
        var = float(((gs - full) ** 2).sum(1).mean())
        t0 = time.perf_counter()
        for i in idx[:50]:
            grad(i)
        per_update = (time.perf_counter() - t0) / 50
        rows.append({"batch": b, "gradient_variance": var, "variance_times_batch": var * b,
                     "seconds_per_update": per_update, "input_bytes_per_batch": b * d * 8})
    ratio = rows[0]["gradient_variance"] / rows[-2]["gradient_variance"]
    return Answer(
        id="P2.1",
        question="Tradeoffs when choosing the SGD minibatch size",
        exam_answer=f"{P21_SOLUTION} (...). {P21_LARGE} (...)",
        computed=(f"logistic regression, {n} examples: gradient variance falls like 1/B "
                  f"(B=1 vs B=512: {ratio:.0f}x; variance x B stays ~{rows[2]['variance_times_batch']:.2f}), "
                  f"while cost and memory per update grow with B"),
        verdict="conceptual",
        evidence={"rows": rows, "variance_ratio_batch1_over_batch512": ratio},
        notes=["The noise and cost tradeoff is measured here. 'Higher risk of getting stuck in local minima' for "
               "large batches is a common heuristic (sharp vs flat minima), not something this computation shows.",
               "A larger batch usually allows a larger learning rate; the solution's 'may require smaller learning "
               "rate' for small batches says the same from the other side."],
        exam_quotes=[P21_SOLUTION, P21_LARGE],
        explanation="Gradient noise and per-update cost are measured now; `dlexam experiment batch-size` measures "
                    "time per epoch, accuracy at fixed time and epochs, and memory on SVHN-like data.",
    )


def _gradient_norms(act: nn.Module, init: str, depth: int = 20, width: int = 64, scale: float = 1.0) -> list[float]:
    """Per-layer weight-gradient norms of a deep MLP at initialisation (layer 1 = nearest the input)."""
    torch.manual_seed(22)
    layers = [nn.Linear(width, width) for _ in range(depth)]
    for lin in layers:
        if init == "xavier":
            nn.init.xavier_normal_(lin.weight)
        else:
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        nn.init.zeros_(lin.bias)
    net = nn.Sequential(*[m for lin in layers for m in (lin, act)]).to(DT)
    x = torch.randn(128, width, dtype=DT) * scale
    net(x).pow(2).mean().backward()
    return [float(lin.weight.grad.norm()) for lin in layers]


@question("P2.2")
def p2_2() -> Answer:
    z = torch.linspace(-30, 30, 60001, dtype=DT, requires_grad=True)
    # the derivatives in forms without cancellation: autograd's s (1 - s) and 1 - tanh(z)^2 subtract from 1 a number
    # that rounds to 1 for large |z| (1 - tanh(20)^2 is exactly 0.0 in float64, while tanh'(20) = 1.7e-17)
    with torch.no_grad():
        d_sig = torch.sigmoid(z) * torch.sigmoid(-z)
        d_tanh = torch.cosh(z) ** -2
    d_relu = torch.autograd.grad(torch.relu(z).sum(), z)[0]
    at = {}
    for v in (0.0, 5.0, 10.0, 20.0):
        i = int(torch.argmin((z.detach() - v).abs()))
        at[str(v)] = {"d_sigmoid": float(d_sig[i]), "d_tanh": float(d_tanh[i]), "d_relu": float(d_relu[i])}
    # exponential decay: sigmoid'(z) e^{|z|} -> 1 and tanh'(z) e^{2|z|} -> 4 (measured at z = 10)
    i10 = int(torch.argmin((z.detach() - 10).abs()))
    ten = torch.tensor(10.0, dtype=DT)
    decay = {"sigmoid'(10)*e^10": float(d_sig[i10] * torch.exp(ten)),
             "tanh'(10)*e^20": float(d_tanh[i10] * torch.exp(2 * ten))}
    # saturation: the mean derivative over pre-activations z ~ N(0, s^2) as their scale s grows
    zz = torch.randn(100_000, generator=torch.Generator().manual_seed(22), dtype=DT)
    mean_derivative = {}
    for s in (1.0, 3.0, 10.0):
        sig = torch.sigmoid(s * zz)
        mean_derivative[f"scale_{s:g}"] = {"d_sigmoid": float((sig * (1 - sig)).mean()),
                                           "d_tanh": float((1 - torch.tanh(s * zz) ** 2).mean()),
                                           "d_relu": float((zz > 0).to(DT).mean())}
    deep = {}
    for name, act, init in (("sigmoid", nn.Sigmoid(), "xavier"), ("tanh", nn.Tanh(), "xavier"),
                            ("relu", nn.ReLU(), "he")):
        norms = _gradient_norms(act, init)
        deep[name] = {"first_layer": norms[0], "last_layer": norms[-1], "first_over_last": norms[0] / norms[-1]}
    return Answer(
        id="P2.2",
        question="Drawback of sigmoid and tanh, and a workaround",
        exam_answer=f"{P22_SOLUTION} {P22_RELU}",
        computed=(f"max sigmoid' = {float(d_sig.max()):.4f} (= 1/4), max tanh' = {float(d_tanh.max()):.4f}; at z=10: "
                  f"sigmoid' {at['10.0']['d_sigmoid']:.1e}, tanh' {at['10.0']['d_tanh']:.1e}, relu' "
                  f"{at['10.0']['d_relu']:g}; "
                  f"20-layer MLP "
                  f"gradient first/last layer: sigmoid (Xavier init) {deep['sigmoid']['first_over_last']:.1e}, "
                  f"tanh (Xavier) {deep['tanh']['first_over_last']:.2f}, "
                  f"relu (He) {deep['relu']['first_over_last']:.2f}"),
        verdict="conceptual",
        evidence={"max_derivative": {"sigmoid": float(d_sig.max()), "tanh": float(d_tanh.max())},
                  "derivative_at": at, "exponential_decay_constants": decay,
                  "mean_derivative_for_z_at_scale": mean_derivative,
                  "deep_mlp_20_layers_width_64_gradient_norms": deep},
        notes=["sigmoid multiplies the backpropagated gradient by sigmoid'(z) <= 1/4 at every layer, saturated or "
               f"not: 20 layers lose {-math.log10(deep['sigmoid']['first_over_last']):.0f} orders of magnitude here. "
               f"tanh with Xavier initialisation keeps per-layer gradient norms of a "
               "similar size at initialisation (ratio above); its gradients vanish where units saturate: the mean "
               f"tanh' falls from {mean_derivative['scale_1']['d_tanh']:.2f} to "
               f"{mean_derivative['scale_10']['d_tanh']:.2f} as pre-activations grow from scale 1 to 10, while "
               "ReLU's stays 1/2 (1 on the positive half).",
               "ReLU's derivative is exactly 0 for z < 0 (dead units); leaky ReLU or GELU are the usual fixes."],
        exam_quotes=[P22_SOLUTION, P22_RELU],
        explanation="Derivatives and a deep network's per-layer gradient norms computed now; "
                    "`dlexam experiment activations` tracks them during training.",
    )


class _Block(nn.Module):
    def __init__(self, width: int, residual: bool) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, width))
        self.residual = residual

    def forward(self, x):
        return x + self.f(x) if self.residual else self.f(x)


@question("P2.3")
def p2_3() -> Answer:
    torch.manual_seed(23)
    width, depth = 32, 30
    # Jacobian of one block: I + dF for the residual block, dF alone for the plain one
    block = _Block(width, residual=False).to(DT)
    x0 = torch.randn(width, dtype=DT)
    j_f = torch.autograd.functional.jacobian(block, x0)
    sv_plain = torch.linalg.svdvals(j_f)
    sv_res = torch.linalg.svdvals(torch.eye(width, dtype=DT) + j_f)
    res_block = _Block(width, residual=True).to(DT)
    res_block.load_state_dict(block.state_dict())
    j_res = torch.autograd.functional.jacobian(res_block, x0)
    jac_is_identity_plus = float((j_res - torch.eye(width, dtype=DT) - j_f).abs().max())
    grads = {}
    for residual in (False, True):
        torch.manual_seed(230)
        net = nn.Sequential(*[_Block(width, residual) for _ in range(depth)]).to(DT)
        x = torch.randn(64, width, dtype=DT, requires_grad=True)
        net(x).pow(2).mean().backward()
        first = float(net[0].f[0].weight.grad.norm())
        last = float(net[-1].f[-1].weight.grad.norm())
        grads["residual" if residual else "plain"] = {"first_block": first, "last_block": last,
                                                      "first_over_last": first / last}
    return Answer(
        id="P2.3",
        question="What are skip (residual) connections and why are they used?",
        exam_answer=f"{P23_SOLUTION} {P23_OVERFIT} (...)",
        computed=(f"block Jacobian: dF has singular values {float(sv_plain.min()):.2f}..{float(sv_plain.max()):.2f}, "
                  f"I + dF {float(sv_res.min()):.2f}..{float(sv_res.max()):.2f}; {depth} blocks: first/last gradient "
                  f"{grads['plain']['first_over_last']:.1e} plain vs {grads['residual']['first_over_last']:.2f} "
                  f"residual"),
        verdict="conceptual",
        evidence={"block_jacobian_singular_values": {"plain_dF": [float(sv_plain.min()), float(sv_plain.max())],
                                                     "residual_I_plus_dF": [float(sv_res.min()), float(sv_res.max())]},
                  "residual_jacobian_minus_(I+dF)_max_error": jac_is_identity_plus,
                  f"gradient_norms_{depth}_blocks": grads},
        notes=["The regularization claim ('a safeguard against overfitting') is not the standard motivation: residual "
               "networks were introduced (He et al., 2016) because deep plain networks are harder to *optimise* "
               "(higher training error); that is the gradient-flow effect measured here. The overfitting claim is "
               "not checked."],
        exam_quotes=[P23_SOLUTION, P23_OVERFIT],
        explanation="The residual Jacobian I + dF keeps gradients from shrinking through depth (measured now); "
                    "`dlexam experiment skip-connections` compares training curves.",
    )
