"""The exam's CNN for SVHN digits (Problem 1), built from its layer table.

The network is a :class:`dlexam.spec.CNNSpec` (by default ``ExamSpec.version_a().cnn``, the exam as
printed: Conv-1 8 filters 5x5, AvgPool-1 4x4 stride 4, Conv-2 16 filters 4x4 pad 1, AvgPool-2 2x2
stride 2, Linear(144, 10) on a 32x32 grayscale image). Each conv of the table, with the activation
after it, and each pool become PyTorch layers named ``conv1``, ``act1``, ``pool1``, ``conv2``, ... in
the table's order, then the head: Flatten + ``fc`` (Problem 1.3), or one of Problem 1.4's
fully-convolutional heads, ``conv<n+1>`` with a kernel the size of the last map (v1, "conv3x3") or 1x1
followed by global average pooling (v2, "conv1x1-gap"). Every size (in-features, the conv heads'
kernels, the number of classes) is derived from the table; :mod:`dlexam.svhn.summary` reads the
built model back as Problem 1's layer table.

Figure 2 (which would show the activations) is not in the exam text, so the activation after each
conv is the table's choice (ReLU) unless `CNNConfig.activation` says otherwise; `CNNConfig.pool`
turns every pool into max pooling for Problem 1.1's comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from dlexam.bounds import LINEAR_IN
from dlexam.errors import BadConfigValue
from dlexam.limits import known_keys
from dlexam.spec import CNNSpec, Conv, ExamSpec, Pair, Pool, SpecError
from dlexam.svhn.kernels import fused as kernels

KIND = "svhn-cnn"  # the checkpoint kind of this model (dlexam.checkpoint)
ACTIVATIONS = ("relu", "tanh", "sigmoid", "none")
POOLS = ("avg", "max")
HEADS = ("linear", "conv3x3", "conv1x1-gap")  # conv3x3: a kernel the size of the last map (3x3 in Version A)


def version_a_table() -> CNNSpec:
    """Problem 1's layer table as the exam prints it."""
    return ExamSpec.version_a().cnn


@dataclass
class CNNConfig:
    """Which network: the layer table, and the choices Problem 1 leaves open or varies.

    None means "as the table says": after construction every field but `pool` holds a value (`pool`
    stays None only for a table that mixes average and max pools).
    """

    activation: str | None = None  # after each conv; the table's is ReLU (Figure 2 is missing from the text)
    pool: str | None = None  # every pool "avg" (the exam's) or "max" (Problem 1.1's comparison)
    head: str = "linear"  # "linear" (Problem 1.3), "conv3x3" (1.4 v1), "conv1x1-gap" (1.4 v2)
    linear_in: int | None = None  # in-features of the linear head; the table's C*H*W (Version A: 3*3*16 = 144)
    cnn: CNNSpec = field(default_factory=version_a_table)

    def __post_init__(self) -> None:
        if not isinstance(self.cnn, CNNSpec):
            raise ValueError(f"cnn must be a layer table (dlexam.spec.CNNSpec), not {type(self.cnn).__name__}")
        if self.activation is None:
            self.activation = self.cnn.activation
        modes = {p.mode for p in self.cnn.pools}
        if self.pool is None and len(modes) <= 1:
            self.pool = modes.pop() if modes else "avg"
        if self.linear_in is None:
            self.linear_in = self.cnn.flat_features()
        for name, value, allowed in (
            ("activation", self.activation, ACTIVATIONS),
            ("pool", self.pool, (*POOLS, None)),
            ("head", self.head, HEADS),
        ):
            if value not in allowed:
                raise BadConfigValue(name, value, f"must be one of {', '.join(a for a in allowed if a)}, not {value!r}")
        LINEAR_IN.check("linear_in", self.linear_in, error=BadConfigValue)

    def pool_mode(self, layer: Pool) -> str:
        """The mode `layer` of the table runs with: the config's, else the table's own."""
        return self.pool or layer.mode

    def to_dict(self) -> dict:
        """Plain JSON types; the table under "cnn" (dlexam.spec's JSON form)."""
        return {"activation": self.activation, "pool": self.pool, "head": self.head, "linear_in": self.linear_in,
                "cnn": self.cnn.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> CNNConfig:
        """A config :meth:`to_dict` wrote; one without "cnn" (every checkpoint made before the table was
        data) is Version A's network. A key it does not have is refused (:func:`dlexam.limits.known_keys`)."""
        known_keys(d, ("activation", "pool", "head", "linear_in", "cnn"))
        kw = {k: d[k] for k in ("activation", "pool", "head", "linear_in") if k in d}
        if d.get("cnn") is not None:
            try:
                kw["cnn"] = CNNSpec.from_dict(d["cnn"], known_keys_only=True)
            except SpecError as exc:
                raise ValueError(f"its layer table: {exc}") from None
        return cls(**kw)


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=True)  # in place: the conv's output is not needed for its backward
    return {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "none": nn.Identity}[name]()


def _size(p: Pair) -> int | Pair:
    """A pair as PyTorch's layers take it: one number when both are equal (as the layers print and compare)."""
    return p[0] if p[0] == p[1] else p


def _pool(mode: str, layer: Pool) -> nn.Module:
    return (nn.AvgPool2d if mode == "avg" else nn.MaxPool2d)(_size(layer.kernel), _size(layer.stride),
                                                            _size(layer.padding))


# The layers of the two conv + activation + pool stages, which the fused operators replace in training.
_STAGE_LAYERS = ("conv1", "act1", "pool1", "conv2", "act2", "pool2")


class ExamCNN(nn.Module):
    """Problem 1's network from its layer table: (B, C, H, W) float images -> (B, classes) logits
    (Version A: (B, 1, 32, 32) -> (B, 10)).

    The engine of Conv-1 .. AvgPool-2 in training is chosen when the model is built, and again when
    one of those layers is replaced: the fused trunk operator of dlexam.svhn.kernels.fused (the same
    function, computed without the big intermediate maps) where the kernels compute these layers
    (ReLU, average pools; sizes as dlexam.svhn.kernels.geometry accepts) and are available, else
    PyTorch's layers. :attr:`engine` says which, and why: "fused" or "eager (<reason>)".
    `fused=False` or :meth:`unfuse_` keeps PyTorch's layers, as torch.func transforms (vmap, grad) need.
    """

    def __init__(self, cfg: CNNConfig | None = None, *, fused: bool = True):
        super().__init__()
        self.cfg = cfg = cfg or CNNConfig()
        table = cfg.cnn
        stages: list[str] = []  # the trunk's module names in the table's order: conv1, act1, pool1, ...
        convs, pools = 0, 0
        for row in table.table()[:-1]:
            layer = row.layer
            if isinstance(layer, Conv):
                convs += 1
                setattr(self, f"conv{convs}", nn.Conv2d(row.in_shape[0], layer.out_channels, _size(layer.kernel),
                                                        _size(layer.stride), _size(layer.padding)))
                setattr(self, f"act{convs}", _activation(cfg.activation))
                stages += [f"conv{convs}", f"act{convs}"]
            else:
                pools += 1
                setattr(self, f"pool{pools}", _pool(cfg.pool_mode(layer), layer))
                stages.append(f"pool{pools}")
        self.stages = tuple(stages)
        self.conv_names = tuple(f"conv{i}" for i in range(1, convs + 1))
        self.pool_names = tuple(f"pool{i}" for i in range(1, pools + 1))
        c, _, _ = table.feature_shape
        classes = table.num_classes
        self.head_conv_name = None  # the conv head's module, conv<n+1> (Version A: conv3)
        if cfg.head == "linear":
            self.flatten = nn.Flatten()  # (B, C, H, W) -> (B, C*H*W), PyTorch order C, H, W
            self.fc = nn.Linear(cfg.linear_in, classes)
        else:
            self.head_conv_name = f"conv{convs + 1}"
            spec = table.head_conv(whole_map=cfg.head == "conv3x3")
            setattr(self, self.head_conv_name, nn.Conv2d(c, classes, kernel_size=_size(spec.kernel)))
            if cfg.head == "conv1x1-gap":
                self.gap = nn.AdaptiveAvgPool2d(1)  # (B, classes, H, W) -> (B, classes, 1, 1)
            self.flatten = nn.Flatten()  # (B, classes, 1, 1) -> (B, classes)
        self.fused = False  # whether training runs the fused trunk (see fuse_)
        self.engine = "eager (not fused)"
        self._geometry = None  # the trunk's sizes when fused (dlexam.svhn.kernels.geometry.Geometry)
        if fused:
            self.fuse_()

    def fuse_(self) -> ExamCNN:
        """Train Conv-1 .. AvgPool-2 with the fused trunk from now on, if the kernels compute these layers
        and are available (built on first use); else keep PyTorch's layers. :attr:`engine` says which."""
        if self.stages == _STAGE_LAYERS:
            self._geometry, self.engine = kernels.choose(*(getattr(self, name) for name in _STAGE_LAYERS))
        else:  # a table of another form: its own reason
            self._geometry, self.engine = None, kernels.why_not(self.cfg.cnn)
        self.fused = self._geometry is not None
        return self

    def unfuse_(self) -> ExamCNN:
        """Train on PyTorch's layers from now on."""
        self.fused, self._geometry, self.engine = False, None, "eager (unfused)"
        return self

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if name in _STAGE_LAYERS and self.__dict__.get("fused"):
            self.fuse_()  # a stage's layer replaced (an experiment's subsampling, say): fused only if still right

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Conv-1 .. AvgPool-2: (B, 1, 32, 32) -> (B, 16, 3, 3) in Version A.

        A fused model in training, with gradients on, runs both conv + ReLU + pool stages as one
        operator on float32 CPU images that need no gradient themselves (Conv-1 gives none);
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
            return kernels.trunk(x, self.conv1, self.conv2, self._geometry)  # (B, 16, 3, 3), contiguous
        return self.features(x)

    def fused_step(self, x: torch.Tensor, y: torch.Tensor, scale: float) -> tuple[float, int] | None:
        """A training step's forward and backward pass as one fused C call, where it applies: sets each
        parameter's .grad to the gradient of ``scale * F.cross_entropy(self(x), y, reduction="sum")`` and
        returns (that summed loss, the count of images whose first largest logit is y) -- the same
        function as ``self(x)`` and autograd, to float rounding. None (nothing done) where it does not
        apply: not fused, not in training, a conv head, a layer swapped for another kind, hooks on a
        module, images that are not float32 CPU tensors; then the caller runs the step through autograd.
        """
        if not (
            self.fused
            and self.training
            and torch.is_grad_enabled()
            and self.cfg.head == "linear"
            and type(self.fc) is nn.Linear
            and type(self.flatten) is nn.Flatten
            and x.dtype == torch.float32
            and x.device.type == "cpu"
            and not x.requires_grad
            and not self._hooked()
        ):
            return None
        return kernels.train_step(self._geometry, x, y, self.conv1, self.conv2, self.fc, scale)

    def _hooked(self) -> bool:
        """Whether a hook is set that a step through the layers would run: on every module, on this model or
        a layer of the step (a fused model's stage layers, flatten and fc are leaves), or on a parameter."""
        module = nn.modules.module
        if (module._global_forward_hooks or module._global_forward_pre_hooks or module._global_backward_hooks
                or module._global_backward_pre_hooks):
            return True
        for m in (self, *(self._modules[name] for name in _STAGE_LAYERS), self.flatten, self.fc):
            if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks or any(
                p._backward_hooks or p._post_accumulate_grad_hooks for p in m._parameters.values() if p is not None
            ):
                return True
        return False

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The table's convs (each with its activation) and pools in order, on PyTorch's layers:
        (B, C, H, W) -> the last map (Version A: (B, 1, 32, 32) -> (B, 16, 3, 3))."""
        for name in self.stages:  # by name: a layer an experiment swapped in is the one that runs
            x = getattr(self, name)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """The last map (B, C, H, W) -> logits (B, classes) (Version A: (B, 16, 3, 3) -> (B, 10))."""
        if self.cfg.head == "linear":
            return self.fc(self.flatten(x))  # (B, C, H, W) -> (B, C*H*W) -> (B, classes)
        x = getattr(self, self.head_conv_name)(x)  # (B, classes, 1, 1) for v1, (B, classes, H, W) for v2
        if self.cfg.head == "conv1x1-gap":
            x = self.gap(x)  # (B, classes, H, W) -> (B, classes, 1, 1)
        return self.flatten(x)  # (B, classes, 1, 1) -> (B, classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
