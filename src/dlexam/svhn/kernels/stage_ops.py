"""Each of Problem 1's two conv + ReLU + AvgPool stages as its own operator, with Version A's sizes.

``ExamCNN`` trains with the trunk operator of :mod:`.fused` (both stages per image); these run the
same C++ per-image functions one stage at a time, so that tests can check a stage alone against
nn.Conv2d + nn.ReLU + nn.AvgPool2d, and torch.library.opcheck each registration. The sizes are
``ExamSpec.version_a()``'s (:mod:`.geometry`); the image size is free.

    stage1_forward(x (B, 1, H, W), weight (C1, 1, K1, K1), bias (C1,))
        -> out (B, C1, Hp, Wp) channels-last, mask (B, Hp P1, Wp P1) (bit c: channel c > 0)
    stage1_backward(x, grad_out, mask) -> grad_weight, grad_bias
    stage2_forward(x (B, C1, H, W), weight (C2, C1, K2, K2), bias (C2,)) -> out (B, C2, Hp, Wp), mask
    stage2_backward(x, grad_out, mask, weight) -> grad_x (channels-last), grad_weight, grad_bias
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from dlexam.svhn.kernels.geometry import Unsupported
from dlexam.svhn.kernels.library import (
    CL,
    F32,
    VERSION_A,
    Pinned,
    check_input,
    expect,
    kernel_threads,
    library_for,
    mask_dtype,
)

# The shapes each stage operator is for: Version A's Conv-1/AvgPool-1 and Conv-2/AvgPool-2.
STAGES = {s: {**VERSION_A.stage(s), "mask": mask_dtype(VERSION_A.stage(s)["out_channels"])} for s in (1, 2)}
_C1, _K1, _P1, _PAD1 = (STAGES[1][k] for k in ("out_channels", "kernel", "pool", "padding"))
_C2, _K2, _P2, _PAD2 = (STAGES[2][k] for k in ("out_channels", "kernel", "pool", "padding"))
_M1, _M2 = STAGES[1]["mask"], STAGES[2]["mask"]


def stage_sizes(n: int, conv: nn.Module, act: nn.Module, pool: nn.Module) -> list[int]:
    """[out_channels, kernel, padding, pool] of conv -> act -> pool if the kernels compute it; else Unsupported."""
    if not isinstance(act, nn.ReLU):
        raise Unsupported(f"the fused kernels compute ReLU, not {type(act).__name__}")
    if type(pool) is not nn.AvgPool2d:
        raise Unsupported(f"the fused kernels compute average pooling, not {type(pool).__name__}")
    if type(conv) is not nn.Conv2d or conv.bias is None or conv.groups != 1 or conv.dilation != (1, 1) \
            or conv.padding_mode != "zeros" or conv.stride != (1, 1) or isinstance(conv.padding, str):
        raise Unsupported(f"Conv-{n}: the fused kernels compute a plain nn.Conv2d (bias, stride 1, zero padding)")
    (kh, kw), (ph, pw) = conv.kernel_size, conv.padding
    size, stride, padding = (nn.modules.utils._pair(v) for v in (pool.kernel_size, pool.stride, pool.padding))
    if kh != kw or ph != pw:
        raise Unsupported(f"Conv-{n}: the fused kernels take a square kernel with equal padding")
    if size[0] != size[1] or stride != size or padding != (0, 0) or pool.ceil_mode \
            or pool.divisor_override is not None:
        raise Unsupported(f"AvgPool-{n}: the fused kernels take a square pool with stride = size and no padding")
    return [conv.out_channels, kh, ph, size[0]]


def computes(stage: int, conv: nn.Module, act: nn.Module, pool: nn.Module) -> bool:
    """Whether conv -> act -> pool is what stage `stage`'s operator (Version A's sizes) computes."""
    try:
        sizes = stage_sizes(stage, conv, act, pool)
    except Unsupported:
        return False
    s = STAGES[stage]
    return conv.in_channels == s["in_channels"] and sizes == [s["out_channels"], s["kernel"], s["padding"], s["pool"]]


def pooled_size(size: int, stage: int) -> int:
    """Rows (or columns) of stage `stage`'s output for `size` input rows: conv, then the pool's floor."""
    s = STAGES[stage]
    return (size + 2 * s["padding"] - s["kernel"] + 1) // s["pool"]


def _check(op: str, stage: int, x: Tensor) -> tuple[int, int, int, int, int]:
    return check_input(op, x, STAGES[stage]["in_channels"], VERSION_A, stage)


def _check_params(op: str, stage: int, weight: Tensor, bias: Tensor | None = None) -> None:
    s = STAGES[stage]
    expect(op, "weight", weight, F32, (s["out_channels"], s["in_channels"], s["kernel"], s["kernel"]))
    if bias is not None:
        expect(op, "bias", bias, F32, (s["out_channels"],))


def _check_grad(op: str, stage: int, grad: Tensor, mask: Tensor, B: int, Hp: int, Wp: int) -> None:
    s = STAGES[stage]
    expect(op, "grad", grad, F32, (B, s["out_channels"], Hp, Wp))
    expect(op, "mask", mask, s["mask"], (B, Hp * s["pool"], Wp * s["pool"]))


def _outputs(stage: int, B: int, Hp: int, Wp: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Empty (out, mask) of a forward operator; float32 whatever the default dtype (the C code writes floats)."""
    s = STAGES[stage]
    out = torch.empty((B, s["out_channels"], Hp, Wp), dtype=F32, device=device,
                      memory_format=CL if stage == 1 else torch.contiguous_format)
    return out, torch.empty((B, Hp * s["pool"], Wp * s["pool"]), dtype=s["mask"], device=device)


# ---- stage 1: Conv-1 + ReLU + AvgPool-1 -----------------------------------------------------------------
@torch.library.custom_op("dlexam::stage1_forward", mutates_args=(), device_types="cpu")
def stage1_forward(x: Tensor, weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    B, H, W, Hp, Wp = _check("stage1_forward", 1, x)
    _check_params("stage1_forward", 1, weight, bias)
    out, mask = _outputs(1, B, Hp, Wp, x.device)
    pin = Pinned()  # keeps the tensors below alive through the call
    library_for().dlexam_stage1_forward(
        pin(x.reshape(B, H, W).contiguous(), F32, (B, H, W)), B, H, W, _PAD1, _P1,  # (B, 1, H, W) -> (B, H, W)
        pin(weight.contiguous(), F32, (_C1, 1, _K1, _K1)), pin(bias.contiguous(), F32, (_C1,)),
        pin(out, F32, (B, _C1, Hp, Wp), CL),  # memory (B, Hp, Wp, C1)
        pin(mask, _M1, tuple(mask.shape)), kernel_threads(),
    )
    return out, mask


@stage1_forward.register_fake
def _(x, weight, bias):
    B, _, _, Hp, Wp = _check("stage1_forward", 1, x)
    _check_params("stage1_forward", 1, weight, bias)
    return _outputs(1, B, Hp, Wp, x.device)


@torch.library.custom_op("dlexam::stage1_backward", mutates_args=(), device_types="cpu")
def stage1_backward(x: Tensor, grad: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    B, H, W, Hp, Wp = _check("stage1_backward", 1, x)
    _check_grad("stage1_backward", 1, grad, mask, B, Hp, Wp)
    dw, db = torch.empty((_C1, 1, _K1, _K1), dtype=F32), torch.empty(_C1, dtype=F32)
    pin = Pinned()  # keeps the tensors below alive through the call
    library_for().dlexam_stage1_backward(
        pin(x.reshape(B, H, W).contiguous(), F32, (B, H, W)), B, H, W, _PAD1, _P1,
        pin(grad.permute(0, 2, 3, 1).contiguous(), F32, (B, Hp, Wp, _C1)),  # (B, C1, Hp, Wp) -> (B, Hp, Wp, C1)
        pin(mask.contiguous(), _M1, tuple(mask.shape)), dw.data_ptr(), db.data_ptr(), kernel_threads(),
    )
    return dw, db


@stage1_backward.register_fake
def _(x, grad, mask):
    B, _, _, Hp, Wp = _check("stage1_backward", 1, x)
    _check_grad("stage1_backward", 1, grad, mask, B, Hp, Wp)
    return x.new_empty((_C1, 1, _K1, _K1)), x.new_empty((_C1,))


def _stage1_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(inputs[0], output[1])  # x and the mask
    ctx.set_materialize_grads(False)  # the mask has no gradient: no zero-filled one


def _stage1_grads(ctx, grad, _mask_grad):
    if ctx.needs_input_grad[0]:
        raise RuntimeError("dlexam::stage1_forward has no gradient for its input x: use PyTorch's layers")
    x, mask = ctx.saved_tensors
    return None, *stage1_backward(x, grad, mask)


stage1_forward.register_autograd(_stage1_grads, setup_context=_stage1_setup)


# ---- stage 2: Conv-2 + ReLU + AvgPool-2 -----------------------------------------------------------------
@torch.library.custom_op("dlexam::stage2_forward", mutates_args=(), device_types="cpu")
def stage2_forward(x: Tensor, weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    B, H, W, Hp, Wp = _check("stage2_forward", 2, x)
    _check_params("stage2_forward", 2, weight, bias)
    out, mask = _outputs(2, B, Hp, Wp, x.device)
    pin = Pinned()  # keeps the tensors below alive through the call
    library_for().dlexam_stage2_forward(
        pin(x.permute(0, 2, 3, 1).contiguous(), F32, (B, H, W, _C1)), B, H, W, _PAD2, _P2,  # NHWC: no copy if CL
        pin(weight.contiguous(), F32, (_C2, _C1, _K2, _K2)), pin(bias.contiguous(), F32, (_C2,)),
        pin(out, F32, (B, _C2, Hp, Wp)), pin(mask, _M2, tuple(mask.shape)), kernel_threads(),
    )
    return out, mask


@stage2_forward.register_fake
def _(x, weight, bias):
    B, _, _, Hp, Wp = _check("stage2_forward", 2, x)
    _check_params("stage2_forward", 2, weight, bias)
    return _outputs(2, B, Hp, Wp, x.device)


@torch.library.custom_op("dlexam::stage2_backward", mutates_args=(), device_types="cpu")
def stage2_backward(x: Tensor, grad: Tensor, mask: Tensor, weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    B, H, W, Hp, Wp = _check("stage2_backward", 2, x)
    _check_grad("stage2_backward", 2, grad, mask, B, Hp, Wp)
    _check_params("stage2_backward", 2, weight)
    dx = torch.empty((B, _C1, H, W), dtype=F32, memory_format=CL)
    dw, db = torch.empty((_C2, _C1, _K2, _K2), dtype=F32), torch.empty(_C2, dtype=F32)
    pin = Pinned()  # keeps the tensors below alive through the call
    library_for().dlexam_stage2_backward(
        pin(x.permute(0, 2, 3, 1).contiguous(), F32, (B, H, W, _C1)), B, H, W, _PAD2, _P2,
        pin(grad.contiguous(), F32, (B, _C2, Hp, Wp)), pin(mask.contiguous(), _M2, tuple(mask.shape)),
        pin(weight.contiguous(), F32, (_C2, _C1, _K2, _K2)), dw.data_ptr(), db.data_ptr(),
        pin(dx, F32, (B, _C1, H, W), CL),  # memory (B, H, W, C1)
        kernel_threads(),
    )
    return dx, dw, db


@stage2_backward.register_fake
def _(x, grad, mask, weight):
    B, H, W, Hp, Wp = _check("stage2_backward", 2, x)
    _check_grad("stage2_backward", 2, grad, mask, B, Hp, Wp)
    _check_params("stage2_backward", 2, weight)
    dx = torch.empty((B, _C1, H, W), dtype=F32, device=x.device, memory_format=CL)
    return dx, x.new_empty((_C2, _C1, _K2, _K2)), x.new_empty((_C2,))


def _stage2_setup(ctx, inputs, output) -> None:
    x, weight, _ = inputs
    ctx.save_for_backward(x, output[1], weight)  # x, the mask, the weight
    ctx.set_materialize_grads(False)


def _stage2_grads(ctx, grad, _mask_grad):
    x, mask, weight = ctx.saved_tensors
    return stage2_backward(x, grad, mask, weight)


stage2_forward.register_autograd(_stage2_grads, setup_context=_stage2_setup)

_FORWARD = {1: stage1_forward, 2: stage2_forward}


def conv_relu_avgpool(stage: int, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """avg_pool2d(relu(conv2d(x, weight, bias))) with stage `stage`'s sizes (Version A's), as one fused operator."""
    return _FORWARD[stage](x, weight, bias)[0]
