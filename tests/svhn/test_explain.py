"""dlexam.svhn.explain: one cell's arithmetic, checked against nn.Conv2d / nn.AvgPool2d / nn.MaxPool2d built here
from the model's weights in float64, and against the model's own float32 forward (every cell of every stage)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

from dlexam.errors import UserError
from dlexam.svhn.data.official import preprocess
from dlexam.svhn.explain import explain, explain_conv, explain_logit, explain_pool, parse_at, stage_maps
from dlexam.svhn.model import CNNConfig, ExamCNN


def _image(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    img = torch.full((32, 32), 230, dtype=torch.uint8)
    img[6:26, 10:22] = torch.randint(0, 120, (20, 12), generator=g, dtype=torch.uint8)  # a dark blob with texture
    return img


def _shipped() -> ExamCNN:
    from dlexam.svhn.inference import load_model

    return load_model()[0]


def _oracle(model: ExamCNN, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each stage recomputed in float64 by torch layers built here (the exam's sizes, typed from Problem 1's
    text) with the model's weights copied in."""
    def conv(src: nn.Conv2d, k: int, pad: int) -> nn.Conv2d:
        c = nn.Conv2d(src.in_channels, src.out_channels, kernel_size=k, stride=1, padding=pad).double()
        with torch.no_grad():
            c.weight.copy_(src.weight)
            c.bias.copy_(src.bias)
        return c

    act = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "none": lambda t: t}[model.cfg.activation]
    pool = nn.AvgPool2d if model.cfg.pool == "avg" else nn.MaxPool2d
    with torch.no_grad():
        x = preprocess(image.unsqueeze(0)).double()  # (1, 1, 32, 32)
        c1 = act(conv(model.conv1, 5, 0)(x))  # Conv-1: 8 filters 5x5, stride 1, pad 0
        p1 = pool(4, 4)(c1)  # Pool-1: 4x4, stride 4
        c2 = act(conv(model.conv2, 4, 1)(p1))  # Conv-2: 16 filters 4x4, stride 1, pad 1
        p2 = pool(2, 2)(c2)  # Pool-2: 2x2, stride 2
        logits = model.head.__func__(_double_head(model), p2)[0]  # the model's head layers, in float64
    return {"conv1": c1[0], "pool1": p1[0], "conv2": c2[0], "pool2": p2[0], "logits": logits}


def _double_head(model: ExamCNN) -> ExamCNN:
    import copy

    return copy.deepcopy(model).double()


@pytest.mark.parametrize("cfg", [CNNConfig(), CNNConfig(pool="max", activation="tanh", head="conv3x3"),
                                 CNNConfig(head="conv1x1-gap", activation="sigmoid")],
                         ids=["shipped", "max-tanh-conv3x3", "gap-sigmoid"])
def test_every_cell_of_every_stage_is_its_arithmetic(cfg):
    torch.manual_seed(3)
    model = _shipped() if cfg == CNNConfig() else ExamCNN(cfg).eval()
    image = _image(1)
    oracle = _oracle(model, image)
    fm, maps = stage_maps(model, image)
    for layer in ("conv1", "pool1", "conv2", "pool2"):
        n, h, w = oracle[layer].shape
        fn = explain_conv if layer.startswith("conv") else explain_pool
        got = torch.tensor([[[fn(model, maps, layer, (c, i, j)).value for j in range(w)] for i in range(h)]
                            for c in range(n)], dtype=torch.float64)
        # float64 arithmetic on the model's float32 inputs, against float64 layers on float64 inputs
        torch.testing.assert_close(got, oracle[layer], atol=2e-5, rtol=1e-5, msg=layer)
        torch.testing.assert_close(got, getattr(fm, layer).double(), atol=2e-5, rtol=1e-5, msg=layer)  # the model
    softmax = torch.softmax(oracle["logits"], 0)
    for d in range(10):
        cell = explain_logit(model, maps, fm, d)
        assert cell.value == pytest.approx(float(oracle["logits"][d]), abs=2e-5)
        assert cell.value == pytest.approx(cell.model_value, abs=2e-5)
        # the probability clicked is the softmax of the ten logits the cell carries (the page writes it out)
        torch.testing.assert_close(torch.tensor(cell.logits, dtype=torch.float64), oracle["logits"], atol=2e-5, rtol=0)
        assert cell.probability == pytest.approx(float(softmax[d]), abs=1e-6)


def test_a_conv1_pixel_shows_its_5x5_patch_kernel_bias_sum_and_relu():
    model, image = _shipped(), _image(2)
    cell = explain(model, image, "conv1", (0, 12, 9))
    x = preprocess(image.unsqueeze(0))[0, 0].double()  # (32, 32) standardised
    assert cell.patch.shape == (1, 5, 5) and torch.equal(cell.patch[0], x[12:17, 9:14])
    assert torch.equal(cell.kernel, model.conv1.weight[0].detach().double())
    assert cell.bias == float(model.conv1.bias[0].detach())
    kernel = model.conv1.weight[0, 0].detach().double()  # (5, 5)
    assert cell.total == pytest.approx(float((x[12:17, 9:14] * kernel).sum()), abs=1e-12)
    assert cell.value == max(0.0, cell.pre_activation)
    j = cell.to_json()
    assert j["window"] == {"top": 12, "left": 9, "height": 5, "width": 5, "stride": [1, 1], "padding": [0, 0]}
    assert not any(any(r) for r in j["padded"])
    json.dumps(j)  # plain data


def test_a_conv2_pixel_at_the_corner_covers_the_padding():
    model, image = _shipped(), _image(4)
    cell = explain(model, image, "conv2", (5, 0, 0))
    assert cell.patch.shape == (8, 4, 4)  # Conv-2's 8 input channels, its 4x4 window
    assert cell.window.top == -1 and cell.window.left == -1  # padding 1
    assert cell.padded[0].all() and cell.padded[:, 0].all() and not cell.padded[1:, 1:].any()
    assert (cell.patch[:, 0, :] == 0).all() and (cell.patch[:, :, 0] == 0).all()
    assert cell.channel_sums.sum().item() == pytest.approx(cell.total, abs=1e-12)


def test_a_pool_pixel_is_the_average_of_its_block():
    model, image = _shipped(), _image(5)
    fm, maps = stage_maps(model, image)
    cell = explain_pool(model, maps, "pool1", (3, 6, 6))
    assert torch.equal(cell.block, fm.conv1[3, 24:28, 24:28].double())  # 4x4, stride 4
    assert cell.value == pytest.approx(float(fm.conv1[3, 24:28, 24:28].double().mean()), abs=1e-12)
    assert cell.to_json()["count"] == 16 and cell.picked is None


def test_a_logit_is_the_bias_plus_144_products_summarised():
    model, image = _shipped(), _image(6)
    cell = explain(model, image, "logits", (7,))
    j = cell.to_json()
    assert j["count"] == 144
    assert j["sum"] == pytest.approx(j["positive_sum"] + j["negative_sum"], abs=1e-12)
    assert sum(j["channel_sums"]) == pytest.approx(j["sum"], abs=1e-9)
    fc = model.fc.weight[7].detach().double()
    x = torch.flatten(stage_maps(model, image)[0].pool2).double()  # (144,), nn.Flatten's order
    assert j["value"] == pytest.approx(float(fc @ x) + float(model.fc.bias[7].detach()), abs=1e-9)
    top = j["largest_positive"]
    assert top == sorted(top, key=lambda p: -p["product"]) and top[0]["product"] == pytest.approx(
        float((fc * x).max()), abs=1e-12)
    c, i, k = top[0]["at"]
    assert top[0]["input"] == pytest.approx(float(x[c * 9 + i * 3 + k]), abs=1e-12)


@pytest.mark.parametrize("layer, at", [("conv1", (8, 0, 0)), ("conv1", (0, 28, 0)), ("pool2", (0, 0)),
                                       ("logits", (10,)), ("logits", (1, 2)), ("fc", (0,))])
def test_a_cell_outside_the_layer_is_one_clear_error(layer, at):
    with pytest.raises(UserError, match=r"maps of|values|unknown layer"):
        explain(_shipped(), _image(), layer, at)


def test_parse_at():
    assert parse_at("0,12,9") == (0, 12, 9) and parse_at(" 7 ") == (7,)
    for bad in ("", "a", "-1,2,3", "1,,2", "1.5"):
        with pytest.raises(UserError):
            parse_at(bad)


def test_the_cli_prints_the_same_arithmetic(tmp_path, capsys):
    from PIL import Image

    from dlexam.cli import main
    from dlexam.svhn.data.images import read_image

    path = tmp_path / "digit.png"
    Image.fromarray(_image(7).numpy()).save(path)
    assert main(["svhn", "explain", str(path), "--layer", "conv1", "--at", "0,12,9", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = explain(_shipped(), read_image(path), "conv1", (0, 12, 9)).to_json()
    assert got["value"] == pytest.approx(want["value"], abs=1e-12) and got["patch"] == want["patch"]
    assert main(["svhn", "explain", str(path), "--layer", "pool2", "--at", "1,2,2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pool2[1,2,2] = the average of its 2x2 block of conv2[1]")
    assert main(["svhn", "explain", str(path), "--layer", "logits", "--at", "3"]) == 0
    out = capsys.readouterr().out
    assert "144 products" in out and "P = softmax: e^(logit 3) / (the sum of e^(logit) over the 10 digits) = " in out
    for bad in (["--layer", "conv1", "--at", "9,0,0"], ["--layer", "conv7", "--at", "0,0,0"],
                ["--layer", "conv1", "--at", "x"]):
        assert main(["svhn", "explain", str(path), *bad]) == 2
        err = capsys.readouterr().err
        assert err.strip().splitlines()[-1].startswith("dlexam: error:") and "Traceback" not in err


def test_a_gap_heads_logit_says_its_weights_are_the_1x1_convs_over_the_places():
    """With Problem 1.4 v2's head (a 1x1 conv, then the global average over AvgPool-2's 3x3 places) each of the 144
    weights a logit's products use is the conv's weight for that channel / 9: the CLI called them only 'the conv1x1-gap
    head's weights', which a learner reading model.conv3.weight found 9 times larger. Oracle: nn.Conv2d's weight."""
    from dlexam.commands.svhn_inference import _arithmetic_lines

    torch.manual_seed(0)
    model = ExamCNN(CNNConfig(head="conv1x1-gap")).eval()
    j = explain(model, _image(6), "logits", (4,)).to_json()
    w = model.conv3.weight[4, :, 0, 0].detach().double()  # (16,)
    assert torch.allclose(torch.tensor(j["weights"], dtype=torch.float64), (w / 9)[:, None, None].expand(16, 3, 3),
                          atol=1e-12)
    first = _arithmetic_lines(j)[0]
    assert "1x1 conv's weight for each channel / 9" in first, first
