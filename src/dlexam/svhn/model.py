"""The exam's CNN for SVHN digits (Problem 1), its variants, its layer table and the student's bug.

Problem 1 describes, for a 32x32 grayscale image:

    Conv-1    8 filters 5x5, stride 1, pad 0      -> 28x28x8    8*(5*5*1+1)  =  208 weights
    AvgPool-1 4x4, stride 4                       ->  7x7x8     0
    Conv-2   16 filters 4x4, stride 1, pad 1      ->  6x6x16   16*(4*4*8+1)  = 2064 weights
    AvgPool-2 2x2, stride 2                       ->  3x3x16    0
    Flatten                                       ->  144
    Linear(144, 10)                               ->  10       144*10+10     = 1450 weights

Figure 2 (which would show the activations) is not in the exam text, so the activation after each
conv is a choice (`CNNConfig.activation`, ReLU by default). Variants: max pooling (Problem 1.1),
and the two fully-convolutional heads of Problem 1.4: v1 a 3x3 conv 16 -> 10 on the 3x3 map, v2 a
1x1 conv 16 -> 10 followed by global average pooling.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from dlexam.svhn.kernels import fused as kernels

KIND = "svhn-cnn"  # the checkpoint kind of this model (dlexam.checkpoint)
ACTIVATIONS = ("relu", "tanh", "sigmoid", "none")
POOLS = ("avg", "max")
HEADS = ("linear", "conv3x3", "conv1x1-gap")
IMAGE_SIZE = 32
NUM_CLASSES = 10
MAX_LINEAR_IN = 1_000_000  # Problem 1.3's wrong in-features: enough to show any mistake, 40 MB at most


@dataclass
class CNNConfig:
    activation: str = "relu"  # after Conv-1 and Conv-2 (Figure 2 is missing from the text)
    pool: str = "avg"  # "avg" as in the exam, "max" for Problem 1.1's comparison
    head: str = "linear"  # "linear" (Problem 1.3), "conv3x3" (1.4 v1), "conv1x1-gap" (1.4 v2)
    linear_in: int = 144  # in-features of the linear head; the exam's answer is 3*3*16 = 144

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("activation", self.activation, ACTIVATIONS),
            ("pool", self.pool, POOLS),
            ("head", self.head, HEADS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        if isinstance(self.linear_in, bool) or not isinstance(self.linear_in, int) \
                or not 1 <= self.linear_in <= MAX_LINEAR_IN:
            raise ValueError(f"linear_in must be a whole number from 1 to {MAX_LINEAR_IN:,}, not {self.linear_in!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CNNConfig:
        return cls(**{k: d[k] for k in ("activation", "pool", "head", "linear_in") if k in d})


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """(input + 2*padding - kernel) / stride + 1, the formula of the exam's solution to 1.3."""
    return (size + 2 * padding - kernel) // stride + 1


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)  # in place: the conv's output is not needed for its backward
    return {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "none": nn.Identity}[name]()


def _pool(name: str, kernel: int, stride: int) -> nn.Module:
    return (nn.AvgPool2d if name == "avg" else nn.MaxPool2d)(kernel, stride)


# The layers of the two conv + activation + pool stages, which the fused operators replace in training.
_STAGE_LAYERS = ("conv1", "act1", "pool1", "conv2", "act2", "pool2")


class ExamCNN(nn.Module):
    """Problem 1's network: (B, 1, 32, 32) float images -> (B, 10) logits.

    The engine of Conv-1 .. AvgPool-2 in training is chosen when the model is built, and again when
    one of those layers is replaced: the two fused operators of dlexam.svhn.kernels.fused (the same function,
    computed without the big intermediate maps) where they compute these layers (ReLU, the exam's
    average pools) and the kernels are available, else PyTorch's layers. `fused=False` or
    :meth:`unfuse_` keeps PyTorch's layers, as torch.func transforms (vmap, grad) need.
    """

    def __init__(self, cfg: CNNConfig | None = None, *, fused: bool = True):
        super().__init__()
        self.cfg = cfg = cfg or CNNConfig()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=5, stride=1, padding=0)
        self.act1 = _activation(cfg.activation)
        self.pool1 = _pool(cfg.pool, 4, 4)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=4, stride=1, padding=1)
        self.act2 = _activation(cfg.activation)
        self.pool2 = _pool(cfg.pool, 2, 2)
        if cfg.head == "linear":
            self.flatten = nn.Flatten()  # (B, 16, 3, 3) -> (B, 144), PyTorch order C, H, W
            self.fc = nn.Linear(cfg.linear_in, NUM_CLASSES)
        elif cfg.head == "conv3x3":
            self.conv3 = nn.Conv2d(16, NUM_CLASSES, kernel_size=3)  # 3x3x16 -> 1x1x10
            self.flatten = nn.Flatten()  # (B, 10, 1, 1) -> (B, 10)
        else:
            self.conv3 = nn.Conv2d(16, NUM_CLASSES, kernel_size=1)  # 3x3x16 -> 3x3x10
            self.gap = nn.AdaptiveAvgPool2d(1)  # (B, 10, 3, 3) -> (B, 10, 1, 1)
            self.flatten = nn.Flatten()  # (B, 10, 1, 1) -> (B, 10)
        self.fused = False  # whether training runs the fused operators (see fuse_)
        if fused:
            self.fuse_()

    def fuse_(self) -> ExamCNN:
        """Train both stages with the fused operators from now on, if they compute these layers and
        the kernels are available (built on first use); else keep PyTorch's layers."""
        self.fused = (
            kernels.computes(1, self.conv1, self.act1, self.pool1)
            and kernels.computes(2, self.conv2, self.act2, self.pool2)
            and kernels.available()
        )
        return self

    def unfuse_(self) -> ExamCNN:
        """Train on PyTorch's layers from now on."""
        self.fused = False
        return self

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if name in _STAGE_LAYERS and self.__dict__.get("fused"):
            self.fuse_()  # a stage's layer replaced (an experiment's subsampling, say): fused only if still right

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Conv-1 .. AvgPool-2: (B, 1, 32, 32) -> (B, 16, 3, 3).

        A fused model in training, with gradients on, runs each conv + ReLU + pool stage as one
        operator on float32 CPU images that need no gradient themselves (stage 1 gives none);
        otherwise, and always in evaluation, PyTorch's own layers run (their hooks fire).
        """
        if (
            self.fused
            and self.training
            and torch.is_grad_enabled()
            and x.dtype == torch.float32
            and x.device.type == "cpu"
            and not x.requires_grad
        ):
            x = kernels.conv_relu_avgpool(1, x, self.conv1.weight, self.conv1.bias)  # (B, 8, 7, 7)
            return kernels.conv_relu_avgpool(2, x, self.conv2.weight, self.conv2.bias)  # (B, 16, 3, 3)
        x = self.pool1(self.act1(self.conv1(x)))  # (B, 8, 7, 7)
        return self.pool2(self.act2(self.conv2(x)))  # (B, 16, 3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """Pool-2's output (B, 16, 3, 3) -> logits (B, 10)."""
        if self.cfg.head == "linear":
            return self.fc(self.flatten(x))  # (B, 16, 3, 3) -> (B, 144) -> (B, 10)
        if self.cfg.head == "conv3x3":
            return self.flatten(self.conv3(x))  # (B, 10, 1, 1) -> (B, 10)
        return self.flatten(self.gap(self.conv3(x)))  # (B, 10, 3, 3) -> (B, 10, 1, 1) -> (B, 10)


# Names of the summary's rows, in the exam's words, for each module that makes a row.
_ROW_NAMES = {
    "conv1": "Conv-1",
    "pool1": "Pool-1",
    "conv2": "Conv-2",
    "pool2": "Pool-2",
    "flatten": "Flatten",
    "fc": "Linear",
    "conv3": "Conv-3",
    "gap": "GlobalAvgPool",
}


def _row_name(cfg: CNNConfig, module_name: str) -> str:
    name = _ROW_NAMES[module_name]
    if name.startswith("Pool"):
        name = ("AvgPool" if cfg.pool == "avg" else "MaxPool") + name[4:]
    if module_name == "conv3":
        name += " (3x3 head)" if cfg.head == "conv3x3" else " (1x1 head)"
    if module_name in ("conv1", "conv2") and cfg.activation != "none":
        name += f" + {cfg.activation}"
    return name


def layer_summary(cfg: CNNConfig | None = None) -> list[dict]:
    """One row per layer: output shape as the exam writes it (H, W, C) and trainable parameters.

    Shapes come from a real forward pass (forward hooks) and parameter counts from the modules'
    real parameters: nothing here is typed in. Problem 1.2 asks for these counts.
    """
    cfg = cfg or CNNConfig()
    model = ExamCNN(cfg, fused=False)  # a forward pass only: the training kernels are not needed
    shapes: dict[str, list[int]] = {}
    hooks = []
    for name, module in model.named_children():
        if name in _ROW_NAMES:

            def hook(_m, _inp, out, name=name):
                s = list(out.shape[1:])  # drop the batch dimension
                shapes[name] = [s[1], s[2], s[0]] if len(s) == 3 else s  # (C, H, W) -> (H, W, C)

            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        model(torch.zeros(1, 1, IMAGE_SIZE, IMAGE_SIZE))
    for h in hooks:
        h.remove()
    rows = []
    for name, module in model.named_children():
        if name not in shapes:
            continue
        params = sum(p.numel() for p in module.parameters() if p.requires_grad)
        rows.append({"layer": _row_name(cfg, name), "module": name, "output_shape": shapes[name], "params": params})
    return rows


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def shape_arithmetic() -> list[str]:
    """Problem 1.3's solution: the sizes that give the linear layer 144 in-features."""
    s1 = conv_output_size(IMAGE_SIZE, 5, 1, 0)
    p1 = conv_output_size(s1, 4, 4)
    s2 = conv_output_size(p1, 4, 1, 1)
    p2 = conv_output_size(s2, 2, 2)
    return [
        f"input {IMAGE_SIZE}x{IMAGE_SIZE}x1",
        f"Conv-1 5x5 stride 1 pad 0: ({IMAGE_SIZE} - 5)/1 + 1 = {s1} -> {s1}x{s1}x8",
        f"AvgPool-1 4x4 stride 4: ({s1} - 4)/4 + 1 = {p1} -> {p1}x{p1}x8",
        f"Conv-2 4x4 stride 1 pad 1: ({p1} + 2 - 4)/1 + 1 = {s2} -> {s2}x{s2}x16",
        f"AvgPool-2 2x2 stride 2: ({s2} - 2)/2 + 1 = {p2} -> {p2}x{p2}x16",
        f"Flatten: {p2}*{p2}*16 = {p2 * p2 * 16} -> nn.Linear({p2 * p2 * 16}, 10)",
    ]


def student_bug(linear_in: int, batch_size: int = 64) -> dict:
    """Problem 1.3: build the net with nn.Linear(linear_in, 10), run it, and report what happens.

    Returns {"linear_in", "error" (PyTorch's own message, or None when the net runs),
    "correct_in_features", "fix", "arithmetic"}.
    """
    model = ExamCNN(CNNConfig(linear_in=linear_in), fused=False)
    error = None
    try:
        with torch.no_grad():
            model(torch.zeros(batch_size, 1, IMAGE_SIZE, IMAGE_SIZE))
    except RuntimeError as exc:
        error = str(exc).strip().splitlines()[0]
    correct = (
        conv_output_size(conv_output_size(conv_output_size(conv_output_size(IMAGE_SIZE, 5), 4, 4), 4, 1, 1), 2, 2) ** 2
        * 16
    )
    return {
        "linear_in": int(linear_in),
        "error": error,
        "correct_in_features": correct,
        "fix": f"self.fc = nn.Linear({correct}, 10)  # was nn.Linear({int(linear_in)}, 10)",
        "arithmetic": shape_arithmetic(),
    }


def conv3x3_from_linear(fc: nn.Linear) -> nn.Conv2d:
    """Problem 1.4 v1: the 3x3 conv (16 -> 10) that computes exactly what Linear(144, 10) does.

    nn.Flatten orders the 144 features as (C, H, W), so the weight (10, 144) reshapes to the conv
    weight (10, 16, 3, 3) directly.
    """
    conv = nn.Conv2d(16, NUM_CLASSES, kernel_size=3)
    with torch.no_grad():
        conv.weight.copy_(fc.weight.reshape(NUM_CLASSES, 16, 3, 3))  # (10, 144) -> (10, C, H, W)
        conv.bias.copy_(fc.bias)
    return conv
