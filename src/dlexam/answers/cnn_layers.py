"""Problem 1's layer table computed two independent ways, for the answers of :mod:`dlexam.answers.problem1`.

Plain ``torch.nn`` layers built from the spec's table (:func:`exam_layers`, :func:`torch_shape_table`: a real
forward pass) and the project's own SVHN model read back by :mod:`dlexam.svhn.summary` (:func:`project_summary`);
each answer compares the two, and the exam's stated sizes, in the exam's H x W x C order (:func:`hwc`).
"""

from __future__ import annotations

import torch
from torch import nn

from dlexam.spec import CNNSpec, Conv, ExamSpec
from dlexam.svhn import model as svhn_model
from dlexam.svhn import summary as svhn_summary


def printed(spec: ExamSpec) -> bool:
    """Whether `spec`'s Problem 1 is the one the exam text prints (its quotes and stated answers apply)."""
    return spec.cnn == ExamSpec.version_a().cnn


def hwc(shape) -> list[int]:
    """(C, H, W) -> [H, W, C], the order the exam writes sizes in."""
    c, h, w = shape[-3:]
    return [int(h), int(w), int(c)]


def trunk_names(cnn: CNNSpec) -> list[str]:
    """The feature layers' names, as the table gives them: Conv-1, AvgPool-1, Conv-2, AvgPool-2."""
    return [layer.name for layer in cnn.layers[:-1]]


def exam_layers(cnn: CNNSpec) -> list[tuple[str, nn.Module]]:
    """The feature layers exactly as the table lists them, as plain torch layers (no activation)."""
    layers, c = [], cnn.input_channels
    for layer in cnn.layers[:-1]:
        if isinstance(layer, Conv):
            layers.append((layer.name, nn.Conv2d(c, layer.out_channels, kernel_size=layer.kernel, stride=layer.stride,
                                                 padding=layer.padding)))
            c = layer.out_channels
        else:
            pool_cls = nn.AvgPool2d if layer.mode == "avg" else nn.MaxPool2d
            layers.append((layer.name, pool_cls(kernel_size=layer.kernel, stride=layer.stride, padding=layer.padding)))
    return layers


def exam_input(cnn: CNNSpec, batch: int = 1) -> torch.Tensor:
    """A zero batch of the table's input size, (batch, C, H, W)."""
    return torch.zeros(batch, cnn.input_channels, *cnn.input_size)


def torch_shape_table(cnn: CNNSpec) -> list[dict]:
    """Output shape [H, W, C] and trainable parameters of each feature layer, from a real forward pass."""
    x = exam_input(cnn)
    rows = []
    for name, layer in exam_layers(cnn):
        x = layer(x)  # (1, C, H, W)
        rows.append({"layer": name, "output_shape": hwc(x.shape),
                     "params": sum(p.numel() for p in layer.parameters() if p.requires_grad)})
    return rows


def project_summary(cnn: CNNSpec, **config) -> dict[str, dict]:
    """The SVHN model's own layer table (``svhn.summary.layer_table``), keyed by module name (conv1, pool1,
    ...), each row with its shape as the exam writes it ("output_shape", H x W x C)."""
    rows = svhn_summary.layer_table(svhn_model.CNNConfig(cnn=cnn, **config))
    return {r["module"]: {**r, "output_shape": hwc(r["out_shape"]) if len(r["out_shape"]) == 3 else r["out_shape"]}
            for r in rows}


def project_feature_rows(cnn: CNNSpec, **config) -> dict[str, dict]:
    """The feature layers of the project's table (its first rows, one per layer of the table), by the
    table's layer names."""
    rows = list(project_summary(cnn, **config).values())
    return dict(zip(trunk_names(cnn), rows, strict=False))
