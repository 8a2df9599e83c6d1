"""A deep fully connected classifier with a choice of activation, initialisation and skip connections.

Used by the `activations` (Part 2.2) and `skip-connections` (Part 2.3) experiments:

    h_0 = x W_in                                    (flattened image -> width)
    h_l = act(h_{l-1} W_l + b_l)                     plain block, l = 1..depth
    h_l = h_{l-1} + act(h_{l-1} W_l + b_l)           residual block (skip connection)
    logits = h_depth W_out + b_out

The input projection has no activation, so every hidden block sees the same kind of input and the
per-block gradient norms are comparable along the depth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
INITS = ("default", "matched")
BLOCK_AXIS = "hidden block (1 = nearest the input)"  # the x-axis of every per-block figure of both experiments
GRAD_NORM_AXIS = "||dL/dW_l||_F (log)"  # their y-axis: the Frobenius norm of a block's weight gradient


@dataclass
class DeepMLPConfig:
    in_features: int = 784  # flattened 28x28 image
    width: int = 128  # hidden width
    depth: int = 20  # number of hidden blocks (Linear + activation)
    n_classes: int = 10
    activation: str = "relu"  # sigmoid | tanh | relu
    residual: bool = False  # h + act(h W + b) instead of act(h W + b)
    init: str = "default"  # default: PyTorch's U(+-1/sqrt(fan_in)); matched: Glorot (sigmoid, tanh) / He (ReLU)

    def to_dict(self) -> dict:
        return asdict(self)


class DeepMLP(nn.Module):
    def __init__(self, cfg: DeepMLPConfig) -> None:
        super().__init__()
        if cfg.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {cfg.activation!r}")
        if cfg.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {cfg.init!r}")
        self.cfg = cfg
        self.inp = nn.Linear(cfg.in_features, cfg.width)
        self.blocks = nn.ModuleList(nn.Linear(cfg.width, cfg.width) for _ in range(cfg.depth))
        self.act = ACTIVATIONS[cfg.activation]()
        self.out = nn.Linear(cfg.width, cfg.n_classes)
        if cfg.init == "matched":
            for lin in [self.inp, *self.blocks, self.out]:
                if cfg.activation == "relu":
                    nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")  # He: var 2 / fan_in
                else:
                    nn.init.xavier_normal_(lin.weight)  # Glorot: var 2 / (fan_in + fan_out)
                nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.flatten(1))  # (B, width)
        for lin in self.blocks:
            h = h + self.act(lin(h)) if self.cfg.residual else self.act(lin(h))
        return self.out(h)  # (B, n_classes)

    def layer_weights(self) -> list[nn.Parameter]:
        """The weight matrices of the hidden blocks, input side first (block 1 .. depth)."""
        return [lin.weight for lin in self.blocks]
