"""What /cnn *says*, against an oracle that is not the library: Problem 1's CNN rebuilt in the test from the shipped
checkpoint's state dict with torch.nn.Conv2d, F.relu, F.avg_pool2d and nn.Linear (Version A's table: Conv-1 8 of
5x5, AvgPool 4x4 stride 4, Conv-2 16 of 4x4 padding 1, AvgPool 2x2 stride 2, Linear(144, 10)) and run in float64,
not through dlexam's model class. A digit drawn on the page, and one uploaded through the API: the probabilities
as shown (4 decimals), every feature map and pooled map (the numbers the page holds, and the grey levels it draws),
the logits, and clicked explanations (a conv pixel's window, kernel, sum and bias; a pool's block; a logit's
per-channel sums; a probability's softmax over the ten logits, evaluated here) equal the oracle at the precision they
are shown. Every number of the layer table, clicked: its arithmetic, evaluated here, against PyTorch's own layers
typed in from the exam and run on a zero image, the total against 3,722."""

from __future__ import annotations

import base64
import io
import math
import re
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .browser import params, ready
from .test_browser import _stroke
from .test_exactness import evaluate
from .test_pages import _click_map, _image_of

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")
GREY = "cv => Array.from(cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data.filter((_, i) => !(i % 4)))"
SHOWN = 0.5e-4 + 2e-6  # a number written to 4 decimals, with float32's own rounding beside float64's


def oracle(image: torch.Tensor) -> dict:
    """uint8 (32, 32) -> every stage of the shipped CNN, in float64, from its state dict alone."""
    from dlexam.svhn.shipped import shipped_path

    sd = {k: v.double() for k, v in torch.load(shipped_path(), weights_only=True)["state_dict"].items()}
    conv1, conv2, fc = nn.Conv2d(1, 8, 5).double(), nn.Conv2d(8, 16, 4, padding=1).double(), nn.Linear(144, 10).double()
    for name, layer in (("conv1", conv1), ("conv2", conv2), ("fc", fc)):
        layer.load_state_dict({"weight": sd[f"{name}.weight"], "bias": sd[f"{name}.bias"]})
    x = image.double()
    x = ((x - x.mean()) / (x.std() + 1.0))[None, None]  # the model's input: each image to mean 0, std 1 (+1: flat)
    with torch.no_grad():
        out = {"input": x[0, 0], "conv1": F.relu(conv1(x))}
        out["pool1"] = F.avg_pool2d(out["conv1"], 4, 4)
        out["conv2"] = F.relu(conv2(out["pool1"]))
        out["pool2"] = F.avg_pool2d(out["conv2"], 2, 2)
        out["logits"] = fc(out["pool2"].flatten(1))[0]
        out["probabilities"] = torch.softmax(out["logits"], 0)
    out = {k: (v[0] if v.dim() == 4 else v) for k, v in out.items()}  # (C, H, W) maps
    out["sd"] = sd
    return out


def numbers(page, sel: str) -> torch.Tensor:
    return torch.tensor(page.eval_on_selector_all(sel, "tds => tds.map(t => t.textContent === 'pad' ? NaN : "
                                                       "Number(t.textContent))"), dtype=torch.float64)


def test_drawn_digit_every_number_on_the_page_against_nn_conv2d(page):
    page.goto(f"{page.base}/cnn")
    ready(page)
    _stroke(page, [(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)], steps=12)  # a 7
    ready(page, predictions=1)
    want = oracle(_image_of(page))

    shown = torch.tensor([float(page.text_content(f"#p-{k}")) for k in range(10)], dtype=torch.float64)
    assert (shown - want["probabilities"]).abs().max() <= SHOWN, (shown, want["probabilities"])
    assert int(page.text_content("#digit")) == int(want["probabilities"].argmax())
    for stage in ("conv1", "pool1", "conv2", "pool2"):
        maps = want[stage]
        for c in range(maps.shape[0]):
            held = page.eval_on_selector(f"#map-{stage}-{c}", "cv => Array.from(cv.values)")  # what the page drew
            got = torch.tensor(held, dtype=torch.float64).reshape(maps[c].shape)
            assert torch.allclose(got, maps[c], rtol=1e-5, atol=1e-5), (stage, c, (got - maps[c]).abs().max())
            grey = page.eval_on_selector(f"#map-{stage}-{c}", GREY)
            lo, hi = maps[c].min(), maps[c].max()
            levels = torch.round(255 * (maps[c] - lo) / (hi - lo)) if hi > lo else torch.zeros_like(maps[c])
            assert (torch.tensor(grey).reshape(maps[c].shape) - levels).abs().max() <= 1, (stage, c)
    # and the page says so (until 2026-12-07 only docs/serve.md did: a reader could not tell a map of zeros, black,
    # from a map scaled to its own range)
    assert page.text_content("#maps-scale").startswith(
        "Each map has its own grey scale: black is its smallest value, white its largest")

    _click_map(page, "conv1", 2, 11, 13)  # a Conv-1 pixel: its 5x5 window of the standardised image, the kernel
    page.wait_for_selector("#explain-panel[data-at='conv1:2,11,13']")
    assert (numbers(page, "#explain-patch td") - want["input"][11:16, 13:18].flatten()).abs().max() <= SHOWN
    assert (numbers(page, "#explain-kernel td") - want["sd"]["conv1.weight"][2, 0].flatten()).abs().max() <= SHOWN
    window = (want["input"][11:16, 13:18] * want["sd"]["conv1.weight"][2, 0]).sum()
    assert abs(float(page.text_content("#explain-sum")) - window) <= SHOWN
    assert abs(float(page.text_content("#explain-bias")) - want["sd"]["conv1.bias"][2]) <= SHOWN
    assert abs(float(page.text_content("#explain-value")) - want["conv1"][2, 11, 13]) <= SHOWN

    _click_map(page, "conv2", 5, 0, 5)  # a Conv-2 pixel on the padding: row -1 and column 7 of Pool-1's maps
    page.wait_for_selector("#explain-panel[data-at='conv2:5,0,5']")
    padded = F.pad(want["pool1"], (1, 1, 1, 1))[:, 0:4, 5:9]  # (8, 4, 4)
    patch = numbers(page, "#explain-patch td").reshape(8, 4, 4)
    assert torch.equal(patch.isnan(), torch.zeros(8, 4, 4, dtype=torch.bool).index_fill_(1, torch.tensor([0]), True)
                       | torch.zeros(8, 4, 4, dtype=torch.bool).index_fill_(2, torch.tensor([3]), True))
    assert (patch.nan_to_num(0) - padded).abs().max() <= SHOWN
    assert abs(float(page.text_content("#explain-value")) - want["conv2"][5, 0, 5]) <= SHOWN

    _click_map(page, "pool1", 6, 2, 3)  # a pool pixel: the 4x4 block it averages
    page.wait_for_selector("#explain-panel[data-at='pool1:6,2,3']")
    assert (numbers(page, "#explain-block td") - want["conv1"][6, 8:12, 12:16].flatten()).abs().max() <= SHOWN
    assert abs(float(page.text_content("#explain-value")) - want["pool1"][6, 2, 3]) <= SHOWN

    k = int(want["probabilities"].argmax())
    page.click(f"#p-{k}")  # a logit: Pool-2's 144 values times the head's weights, summed per channel
    page.wait_for_selector(f"#explain-panel[data-at='logits:{k}']")
    products = want["pool2"].flatten() * want["sd"]["fc.weight"][k]  # (144,) in PyTorch's flatten order
    assert (numbers(page, "#explain-channels td") - products.reshape(16, 9).sum(1)).abs().max() <= SHOWN
    assert abs(float(page.text_content("#explain-bias")) - want["sd"]["fc.bias"][k]) <= SHOWN
    assert abs(float(page.text_content("#explain-value")) - want["logits"][k]) <= SHOWN
    for d in (k, int(want["probabilities"].argmin())):  # the probability clicked: softmax of the ten logits
        page.click(f"#p-{d}")
        page.wait_for_selector(f"#explain-panel[data-at='logits:{d}']")
        terms = page.text_content("#explain-softmax-terms")  # "e^(z_k) / (e^(z_0) + ... + e^(z_9))"
        logits = torch.tensor([float(z) for z in re.findall(r"e\^\(([-\d.]+)\)", terms)], dtype=torch.float64)
        assert (logits[1:] - want["logits"]).abs().max() <= SHOWN and logits[0] == logits[1 + d], terms
        assert math.isclose(evaluate(terms), want["probabilities"][d], abs_tol=1e-3 * want["probabilities"][d] + 1e-8)
        assert float(page.text_content("#explain-probability")) == pytest.approx(float(want["probabilities"][d]),
                                                                                   abs=SHOWN)
        assert page.text_content("#explain-probability") == page.text_content(f"#p-{d}")  # the number clicked


def test_an_explanation_is_of_the_digit_on_the_page_after_another_stroke_or_a_clear(page):
    """A pixel explained, then one more stroke: the panel kept the arithmetic of the drawing before, which the maps
    no longer show; it now explains the same pixel of the new drawing. And an explanation still on its way when the
    pad is cleared no longer lands on the empty page (nor puts explain= in the URL)."""
    page.goto(f"{page.base}/cnn")
    ready(page)
    _stroke(page, [(0.5, 0.15), (0.5, 0.85)], steps=8)  # a 1
    ready(page, predictions=1)
    _click_map(page, "conv1", 0, 14, 12)
    page.wait_for_selector("#explain-panel[data-at='conv1:0,14,12']")
    with page.expect_response("**/api/svhn/explain"):
        _stroke(page, [(0.25, 0.5), (0.75, 0.5)], steps=8)  # a bar across it: the pixel's window changes
    ready(page)
    want = oracle(_image_of(page))
    assert (numbers(page, "#explain-patch td") - want["input"][14:19, 12:17].flatten()).abs().max() <= SHOWN
    assert abs(float(page.text_content("#explain-value")) - want["conv1"][0, 14, 12]) <= SHOWN

    held = []
    page.route("**/api/svhn/explain", lambda r: held.append(r))  # its answer comes after the clear
    page.click("#p-3")
    while not held:
        page.wait_for_timeout(20)
    page.click("#clear")
    with page.expect_response("**/api/svhn/explain"):
        held[0].continue_()
    page.wait_for_timeout(100)  # the answer's handler, if it shows anything
    assert page.text_content("#explain") == "" and "explain" not in params(page) and page.text_content("#digit") == "?"


def test_uploaded_photo_through_the_api_against_nn_conv2d(server):
    """POST /api/svhn/predict with a photo (RGB, not square, not 32x32): the JSON's logits, probabilities and packed
    maps against the oracle run on the 32x32 input the server reports it made."""
    import numpy as np
    from PIL import Image, ImageDraw

    photo = Image.new("RGB", (90, 120), (40, 60, 200))
    ImageDraw.Draw(photo).text((30, 40), "3", fill=(250, 240, 90), font_size=48)
    raw = io.BytesIO()
    photo.save(raw, "PNG")
    status, _, d = server.post("/api/svhn/predict", raw.getvalue(), headers={"Content-Type": "image/png"})
    assert status == 200, d
    want = oracle(torch.tensor(d["image"], dtype=torch.uint8))
    for key in ("logits", "probabilities"):  # the API writes them to 4 decimals
        got = torch.tensor(d[key], dtype=torch.float64)
        assert (got - want[key]).abs().max() <= SHOWN, (key, got, want[key])
    assert d["digit"] == int(want["probabilities"].argmax())
    for stage, packed in d["maps"].items():
        got = np.frombuffer(base64.b64decode(packed["data"]), "<f4").reshape(packed["shape"])
        assert torch.allclose(torch.from_numpy(got.astype("f8")), want[stage], rtol=1e-5, atol=1e-5), stage


def table_oracle() -> dict[str, dict]:
    """Each layer's numbers from PyTorch: Version A's layers typed in from the exam (Conv-1 8 of 5x5, AvgPool 4x4
    stride 4, Conv-2 16 of 4x4 padding 1, AvgPool 2x2 stride 2, Linear(144, 10)), run one after another on a zero
    32x32 grey image; output shapes (H x W x C) from the tensors, weights and biases from numel()."""
    layers = {"conv1": nn.Conv2d(1, 8, 5), "pool1": nn.AvgPool2d(4, 4), "conv2": nn.Conv2d(8, 16, 4, padding=1),
              "pool2": nn.AvgPool2d(2, 2), "flatten": nn.Flatten(), "fc": nn.Linear(144, 10)}
    x, out = torch.zeros(1, 1, 32, 32), {}
    for name, m in layers.items():
        with torch.no_grad():
            x = m(x)
        s = list(x.shape[1:])
        out[name] = {"output": [s[1], s[2], s[0]] if len(s) == 3 else s,
                     "weights": m.weight.numel() if hasattr(m, "weight") else 0,
                     "biases": m.bias.numel() if hasattr(m, "bias") else 0,
                     "params": sum(p.numel() for p in m.parameters())}
        if not isinstance(m, nn.Flatten | nn.Linear):
            two = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
            out[name] |= {"kernel": two(m.kernel_size), "stride": two(m.stride), "padding": two(m.padding)}
    return out


def table_arithmetic(page, name: str) -> list[int]:
    """The explanation panel's steps for table number `name`, each expression evaluated here."""
    page.wait_for_selector(f"#table-explain[data-number='{name}']")
    steps = page.eval_on_selector_all("#table-explain .table-expression", "es => es.map(e => e.textContent)")
    got = []
    for e in steps:  # whole numbers, + - * / and floor: exactly
        assert re.fullmatch(r"[\d\s+\-*/()]*(floor[\d\s+\-*/()]*)*", e), e
        got.append(int(eval(re.sub(r"\d+", lambda m: f"F({m.group()})", e),  # noqa: S307
                            {"__builtins__": {}, "F": Fraction, "floor": math.floor})))
    return got


def test_layer_table_every_number_clicked_against_pytorch(page):
    """Every number of /cnn's layer table, clicked: the arithmetic the panel writes, evaluated here, gives the number
    PyTorch's own layers give (a window [rows, columns] and a shape a step each; a count its last step), and the
    number shown in the table; the total is the exam's 3,722 and the shipped model's own count."""
    from dlexam.svhn.inference import load_model

    want = table_oracle()
    page.goto(f"{page.base}/cnn?number=fc.weights")  # a shared link opens its explanation
    ready(page)
    assert table_arithmetic(page, "fc.weights")[-1] == 144 * 10
    cells = page.eval_on_selector_all("#layer-rows td[data-number]", "tds => tds.map(t => [t.dataset.number, "
                                                                     "t.textContent])")
    assert len(cells) == 4 * 7 + 2 * 4 + 1  # convs and pools: 7 numbers each; Flatten, Linear 4; the total
    for name, shown in cells:
        page.click(f"#layer-rows td[data-number='{name}']")
        got = table_arithmetic(page, name)
        module, field = name.split(".")
        if module == "total":
            assert got == [3722] == [sum(p.numel() for p in load_model()[0].parameters())], got
            assert shown == "3,722"
            continue
        value = want[module][field]
        assert (got if isinstance(value, list) else got[-1]) == value, (name, got, value)
        assert shown == ("x".join(map(str, value)) if field in ("kernel", "output") else
                         str(value[0]) if isinstance(value, list) else f"{value:,}"), (name, shown)
        assert page.get_attribute(f"#layer-rows td[data-number='{name}']", "class").split().count("picked") == 1
        assert page.locator("#layer-rows td.picked").count() == 1
        assert params(page)["number"] == name
