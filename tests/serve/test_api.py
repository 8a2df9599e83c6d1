"""The JSON API answers what the library computes (the same function the CLI prints), checked against
the CLI itself, hand-typed values of the exam's worked solution, sorted(set(x)) and nn.functional."""

from __future__ import annotations

import base64
import io
import json
import math
import random
import subprocess
import sys
from urllib.parse import urlencode

import numpy as np
import pytest
import torch

from dlexam import geoff
from dlexam.exact import fraction_rows
from dlexam.plain import plain

EXAMPLE = "D A A <START> A D <STOP>"


def q(path: str, **params) -> str:
    return path + "?" + urlencode(params)


def test_get_geoff_is_exactly_what_the_cli_prints(server):
    status, _, api = server.get(q("/api/geoff", seq=EXAMPLE, temperature="sqrt", heads=2, gradients=1,
                                  convention="exam"))
    assert status == 200
    cli = subprocess.run([sys.executable, "-m", "dlexam", "geoff", EXAMPLE, "--temperature", "sqrt", "--heads", "2",
                          "--gradients", "--convention", "exam", "--json"], capture_output=True, text=True, check=True)
    assert api == json.loads(cli.stdout)


@pytest.mark.parametrize("params", [
    {}, {"seq": "A B <START> B", "T": "0.5"}, {"seq": EXAMPLE, "heads": "2"}, {"seq": "C C D", "temperature": "3"},
    {"seq": EXAMPLE, "grad": "true", "loss": "1"},
])
def test_get_geoff_matches_analyse(server, params):
    status, _, api = server.get(q("/api/geoff", **params))
    assert status == 200, api
    query = geoff.GeoffQuery(
        sequence=params.get("seq", EXAMPLE), temperature=_temperature(params), heads=int(params.get("heads", 1)),
        loss=True if params.get("loss") else None, gradients=bool(params.get("grad")))
    assert api == plain(geoff.analyse(query).to_json())


def _temperature(params):
    from dlexam.attention import parse_temperature

    return parse_temperature(params.get("T", params.get("temperature", "0")))


def test_exact_strings_are_the_exam_fractions(server):
    """P at T = 0 for the exam's example, typed in from its worked solution (Problem 2.2)."""
    _, _, d = server.get(q("/api/geoff", seq=EXAMPLE, T=0, exact=1))
    q7 = ["1/7"] * 7
    assert d["exact"]["attention"] == [
        ["1", "0", "0", "0", "0", "0", "0"],
        ["0", "1", "0", "0", "0", "0", "0"],
        ["0", "1/2", "1/2", "0", "0", "0", "0"],
        ["1/4", "1/4", "1/4", "1/4", "0", "0", "0"],
        ["0", "1/3", "1/3", "0", "1/3", "0", "0"],
        ["1/2", "0", "0", "0", "0", "1/2", "0"],
        q7,
    ]
    assert d["exact"]["Z"] == fraction_rows(d["Z"])
    assert d["exact"]["loss"]["exam"]["value"] == "4.2114"  # the exam's own number (Problem 2.3)


def test_post_geoff_with_edited_weights(server):
    W_V = [[1, 0], [0, 1], [1, 1], [0.5, -2]]
    status, _, api = server.post("/api/geoff", {"sequence": EXAMPLE, "temperature": 0.7, "weights": {"W_V": W_V}})
    assert status == 200, api
    want = geoff.analyse(geoff.GeoffQuery(EXAMPLE, 0.7, weights=geoff.GeoffWeights(W_V=W_V)))
    assert api == plain(want.to_json())
    assert api["V"] == (want.result.X @ torch.tensor(W_V, dtype=torch.float64)).tolist()  # V = X W_V


def test_gradient_of_every_matrix(server):
    _, _, d = server.post("/api/geoff", {"gradients": True, "gradient_of": ["E", "W_Q", "W_K", "W_V", "W_O"]})
    assert list(d["gradients"]) == ["E", "W_Q", "W_K", "W_V", "W_O"]
    assert torch.tensor(d["gradients"]["W_Q"]).abs().max() == 0  # argmax attention: no gradient reaches W_Q


@pytest.mark.parametrize("temperature, frozen", [(0, {"W_Q", "W_K"}), ("sqrt", set())])
def test_gradient_step_moves_what_problem_2_5_says(server, temperature, frozen):
    lr = 0.25
    status, _, s = server.post("/api/geoff/step", {"sequence": EXAMPLE, "temperature": temperature, "lr": lr})
    assert status == 200, s
    assert {m for m, moved in s["moved"].items() if not moved} == frozen
    # the oracle: W - lr * autograd's gradient
    r = geoff.run_geoff(EXAMPLE, temperature=temperature, gradients=True)
    for name in geoff.PARAMETERS:
        want = geoff.EXAM_WEIGHTS.tensor(name) - lr * r.gradients[name]
        assert torch.allclose(torch.tensor(s["weights"][name], dtype=torch.float64), want, rtol=0, atol=1e-12)
    assert s["loss_after"] < s["loss_before"]


def test_gradient_step_with_two_heads_and_E(server):
    _, _, s = server.post("/api/geoff/step", {"heads": 2, "temperature": "sqrt", "lr": 0.1,
                                              "matrices": ["E", "W_Q", "W_K", "W_V", "W_O"]})
    assert set(s["change"]) == set(s["gradient_norms"]) == {"E", "W_Q", "W_K", "W_V", "multi_W_O"}
    assert all(s["moved"].values())
    assert s["weights"]["W_O"] == geoff.EXAM_WEIGHTS.to_json()["W_O"]  # the one-head W_O is not the one used


@pytest.mark.parametrize("vocab", ["A-D", "A-Z", "10", "a-f"])
def test_compiled_sort_is_sorted_set(server, vocab):
    from dlexam.sorting.vocab import Vocabulary

    v = Vocabulary.from_spec(vocab)
    rng = random.Random(vocab)
    for n in (0, 1, 5, 12):
        xs = [rng.choice(v.symbols) for _ in range(n)]
        status, _, d = server.get(q("/api/sort", seq=" ".join(xs), vocab=vocab))
        assert status == 200, d
        want = sorted(set(xs), key=v.symbols.index)
        assert d["output"] == want and d["correct"]
        assert [s["produced"] for s in d["steps"]] == want + ["<STOP>"]
        for s in d["steps"]:
            assert len(s["weights"][0]) == s["position"] + 1 and abs(sum(s["weights"][0]) - 1) < 1e-6


def test_trained_sort(server):
    status, _, models = server.get("/api/sort/models")
    assert status == 200 and models["trained"]["vocab"] == "A-D"
    status, _, d = server.get(q("/api/sort", seq="D A A C", model="trained"))
    assert status == 200, d
    assert d["tokens"][:5] == ["D", "A", "A", "C", "<START>"] and d["steps"]


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def digit_image(text: str = "7", size=(60, 90)):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (240, 240, 230))
    d = ImageDraw.Draw(img)
    d.line([(12, 15), (48, 15), (25, 78)], fill=(20, 20, 40), width=9)
    return img


def test_svhn_predict_is_the_library_on_the_same_bytes(server):
    from dlexam.svhn import shipped
    from dlexam.svhn.inference import load_model
    from dlexam.svhn.inspect import feature_maps, read_image_bytes

    data = _png(digit_image())
    status, _, d = server.post("/api/svhn/predict", data, headers={"Content-Type": "image/png"})
    assert status == 200, d
    model, _ = load_model(shipped.shipped_path())
    want = feature_maps(model, read_image_bytes(data)).to_json()
    assert d["digit"] == want["digit"] and d["image"] == want["image"]
    assert d["probabilities"] == pytest.approx(want["probabilities"], abs=2e-4)
    assert abs(sum(d["probabilities"]) - 1) < 1e-3
    fm = feature_maps(model, read_image_bytes(data))
    maps = {}
    for stage, m in d["maps"].items():  # base64 of little-endian float32, with the shape
        assert m["dtype"] == "float32"
        raw = np.frombuffer(base64.b64decode(m["data"]), dtype="<f4").reshape(m["shape"])
        maps[stage] = torch.from_numpy(raw.copy())
        assert torch.allclose(maps[stage], getattr(fm, stage), rtol=0, atol=1e-5), stage  # the library's float32
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "conv1": (8, 28, 28), "pool1": (8, 7, 7), "conv2": (16, 6, 6), "pool2": (16, 3, 3)}


def test_svhn_model_and_layer_table(server):
    from dlexam.svhn.model import CNNConfig
    from dlexam.svhn.summary import layer_summary

    _, _, d = server.get("/api/svhn/model")
    assert d["layers"] == layer_summary(CNNConfig()) and d["total_params"] == 208 + 2064 + 1450  # Problem 1.2
    assert d["input"] == [1, 32, 32] and d["config"]["linear_in"] == 144
    # Problem 1's text: Conv-1 5x5 stride 1 pad 0, AvgPool-1 4x4 stride 4, Conv-2 4x4 pad 1, AvgPool-2 2x2 stride 2
    got = {row["module"]: (row.get("kernel"), row.get("stride"), row.get("padding")) for row in d["layers"]}
    assert got == {"conv1": ([5, 5], [1, 1], [0, 0]), "pool1": ([4, 4], [4, 4], [0, 0]),
                   "conv2": ([4, 4], [1, 1], [1, 1]), "pool2": ([2, 2], [2, 2], [0, 0]),
                   "flatten": (None, None, None), "fc": (None, None, None)}


def test_svhn_model_explain_is_the_cli_and_refuses_a_bad_name(server, capsys):
    from dlexam.cli import main

    got = {}
    for name in ("conv2.output", "fc.weights", "total"):
        status, _, got[name] = server.get(q("/api/svhn/model/explain", number=name))
        assert status == 200, got[name]
        assert main(["svhn", "summary", "--explain", name, "--json"]) == 0
        assert got[name] == json.loads(capsys.readouterr().out)  # what `svhn summary --explain NAME --json` prints
    assert got["total"]["value"] == 3722 and got["total"]["name"] == "total.params"  # Problem 1.2
    assert [s["expression"] for s in got["conv2.output"]["steps"]] == ["floor((7 + 2*1 - 4) / 1) + 1"] * 2 + ["16"]
    for bad in ("conv9.output", "fc.kernel", "", "x" * 50):
        status, _, d = server.get(q("/api/svhn/model/explain", number=bad))
        assert status == 400 and d["field"] == "number" and "\n" not in d["error"], (bad, d)
    status, _, d = server.get("/api/svhn/model/explain")
    assert status == 400 and d["field"] == "number", d


def test_svhn_explain_is_the_library_on_the_page_image(server):
    from dlexam.svhn.explain import explain
    from dlexam.svhn.inference import load_model

    raw = bytes((i * 7 + (i // 32) * 13) % 256 for i in range(1024))
    img = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    image = torch.tensor(list(raw), dtype=torch.uint8).reshape(32, 32)
    model = load_model()[0]
    for layer, at in (("conv1", [0, 12, 9]), ("pool1", [1, 2, 3]), ("conv2", [3, 0, 0]), ("logits", [7])):
        status, _, d = server.post("/api/svhn/explain", {"image": img, "layer": layer, "at": at})
        assert status == 200, d
        assert d == plain(explain(model, image, layer, tuple(at)).to_json())
    for body, field in (({"image": img, "layer": "conv1", "at": [8, 0, 0]}, "at"),
                        ({"image": img, "layer": "conv9", "at": [0, 0, 0]}, "layer"),
                        ({"image": img[:-4], "layer": "conv1", "at": [0, 0, 0]}, "image"),
                        ({"image": img, "layer": "conv1", "at": "0,0,0"}, "at"),
                        ({"image": 5, "layer": "conv1", "at": [0, 0, 0]}, "image")):
        status, _, d = server.post("/api/svhn/explain", body)
        assert status == 400 and d["field"] == field, (body, d)


def test_geoff_page_answer_has_the_gradient_norms_at_its_own_temperature(server):
    _, _, d = server.get(q("/api/geoff", seq=EXAMPLE, T="0.5", grad=1, exact=1))
    grads = geoff.run_geoff(EXAMPLE, temperature=0.5, gradients=True).gradients
    row = d["gradient_at_temperature"]
    assert row["norms"] == pytest.approx({k: float(grads[k].norm()) for k in geoff.PARAMETERS}, rel=1e-12)
    assert row["vanishes"] == {k: False for k in geoff.PARAMETERS}
    _, _, d = server.get(q("/api/geoff", seq=EXAMPLE, T="0", grad=1, exact=1))
    assert "gradient_at_temperature" not in d  # Problem 2.5's own rows say it


def test_gradients_of_a_sequence_without_a_loss_are_said_to_be_none_beside_its_matrices(server):
    """Gradients asked for (/geoff's box left ticked) of a sequence with no <START>: its matrices as without them,
    no gradients, and why (the loss's own refusal); it was a 400 that took the matrices off the page too. What is
    refused without gradients (nothing after <START>, an unknown token) is refused with them."""
    status, _, d = server.post("/api/geoff", {"seq": "D A A", "gradients": True})
    assert status == 200 and "gradients" not in d and "loss" not in d, d
    _, _, plain_ = server.post("/api/geoff", {"seq": "D A A"})
    assert {k: v for k, v in d.items() if k != "no_gradients"} == plain_
    assert d["no_gradients"].startswith("a loss needs a <START> token"), d["no_gradients"]
    for seq, says in (("D A A <START>", "nothing after <START>"), ("D A E", "'E'")):
        for gradients in (True, False):
            status, _, d = server.post("/api/geoff", {"seq": seq, "gradients": gradients})
            assert status == 400 and d["field"] == "seq" and says in d["error"], d


def test_sequences_without_spaces_are_told_how_to_write_them(server):
    status, _, d = server.get(q("/api/geoff", seq="DAA<START>AD<STOP>"))
    assert status == 400 and d["error"].endswith("separate tokens with spaces: D A A <START> A D <STOP>")
    status, _, d = server.get(q("/api/sort", seq="DAAC"))
    assert status == 400 and d["error"].endswith("separate tokens with spaces: D A A C")
    status, _, d = server.get(q("/api/sort", seq="107", vocab="20"))
    assert status == 400 and "separate" not in d["error"]  # digits split more than one way: no guess
    # tokens separated by commas, as a list is written (2026-12-07: only "unknown token 'D,'")
    status, _, d = server.get(q("/api/geoff", seq="D, A, A, <START>, A, D, <STOP>"))
    assert status == 400 and d["error"].endswith("separate tokens with spaces: D A A <START> A D <STOP>"), d
    status, _, d = server.get(q("/api/sort", seq="D,A,A,C"))
    assert status == 400 and d["error"].endswith("separate tokens with spaces: D A A C"), d
    # symbols in another case (2026-12-07: only "unknown token 'd'")
    status, _, d = server.get(q("/api/sort", seq="d a a c"))
    assert status == 400 and d["error"].endswith("; symbols are case-sensitive: D A A C"), d


def test_sort_given_geoffs_training_example_says_to_type_the_input_alone(server):
    """/geoff's sequence is a training example, input <START> target <STOP>; /sort's is the input alone, which the
    sorter decodes from its own <START>. The example pasted from /geoff was refused as "unknown token '<START>':
    vocabulary A-D is A B C D" (2026-12-07), which does not say what to type."""
    status, _, d = server.get(q("/api/sort", seq="D A A <START> A D <STOP>"))
    assert status == 400 and d["field"] == "seq", d
    assert d["error"].endswith("the sorter adds <START> and decodes the rest itself: type the input alone, D A A"), d
    status, _, d = server.get(q("/api/sort", seq="<START> A"))  # no input before it: nothing to suggest typing
    assert status == 400 and d["error"].endswith("type the input alone, the symbols before <START>"), d


def test_answer_links_point_at_pages(server):
    from dlexam.answers import QUESTION_IDS

    _, _, links = server.get("/api/answers/links")
    assert set(links) <= set(QUESTION_IDS) and "heads=2" in links["Pr2.4"]["url"] and "grad=1" in links["Pr2.5"]["url"]
    for link in links.values():
        status, _, _ = server.get(link["url"].split("#")[0])
        assert status == 200


def test_a_negative_zero_weight_is_not_answered_from_the_cache_of_zero(server):
    """-0.0 == 0.0 as floats, but X = E[tokens] shows the sign: the answer cache keys on the request's bytes."""
    rows = [list(r) for r in geoff.EXAM_WEIGHTS.E]
    negative = [r[:] for r in rows]
    negative[4] = [-0.0] * 4  # <START>'s embedding
    for E, sign in [(rows, 1.0), (negative, -1.0), (rows, 1.0), (negative, -1.0)]:
        status, _, d = server.post("/api/geoff", {"sequence": EXAMPLE, "weights": {"E": E}})
        assert status == 200, d
        assert math.copysign(1.0, d["X"][3][0]) == sign  # position 4 is <START>


def test_a_sorter_from_an_unfinished_run_says_so():
    """/sort warns when the trained checkpoint is a periodic one of a run that has not ended."""
    from dlexam.serve.api_models import sort_answer
    from dlexam.sorting.compiled import compile_sorter
    from dlexam.sorting.sorter import Sorter
    from dlexam.sorting.vocab import Vocabulary

    vocab = Vocabulary.from_spec("A-D")
    done = Sorter(compile_sorter(4), vocab, 8, "trained", training={"finished": True, "step": 100, "steps": 100})
    partial = Sorter(compile_sorter(4), vocab, 8, "trained", training={"finished": False, "step": 40, "steps": 100})
    a, b = sort_answer(done, "D A A", None), sort_answer(partial, "D A A", None)
    assert a["finished"] and not any("unfinished" in w for w in a["warnings"])
    assert not b["finished"] and any("unfinished training run (step 40 of 100)" in w for w in b["warnings"])
    assert a["output"] == b["output"] == ["A", "D"]


def test_sort_refuses_a_temperature_for_the_compiled_solver_as_the_cli_does(server):
    from dlexam.errors import UserError
    from dlexam.sorting.sorter import load_sorter

    with pytest.raises(UserError) as cli:
        load_sorter("A-D").decoding_temperature(0.5)  # what `dlexam sort --temperature 0.5` says
    status, _, d = server.get(q("/api/sort", seq="D A A", temperature="0.5"))
    assert status == 400 and d == {"error": str(cli.value), "field": "temperature"}
    status, _, d = server.get(q("/api/sort", seq="D A A", temperature="0"))
    assert status == 200 and d["output"] == ["A", "D"] and d["temperature"] == 0
    status, _, d = server.get(q("/api/sort", seq="D A A", model="trained", temperature="0.5"))
    assert status == 200 and d["temperature"] == 0.5
    _, _, models = server.get("/api/sort/models")
    assert models["trained"]["vocab"] == "A-D" and models["trained"]["temperature"] > 0  # there always is one


def test_geoff_explain_is_the_library_on_the_same_query(server):
    from dlexam.geoff.explain import explain

    body = {"sequence": EXAMPLE, "temperature": "0.5", "heads": 2, "cell": "P[h2,4,0]",
            "weights": {"W_V": [[1, 0], [0, 1], [1, 1], [0, 0]]}}
    status, _, d = server.post("/api/geoff/explain", body)
    w = geoff.GeoffWeights(W_V=((1, 0), (0, 1), (1, 1), (0, 0)))
    assert status == 200 and d == plain(explain(geoff.GeoffQuery(EXAMPLE, 0.5, heads=2, weights=w), "P[h2,4,0]")
                                        .to_json())
    status, _, d = server.get(q("/api/geoff/explain", seq=EXAMPLE, T="0", cell="Z[6,:]"))
    assert status == 200 and d["exact"] == ["6/7", "9/7"]
    for src, field in (({"cell": "P[9,0]"}, "cell"), ({"cell": "Foo"}, "cell"),
                       ({"seq": "D E", "cell": "P[0,0]"}, "seq"), ({"cell": "P[0,0]", "variant": "x"}, "variant")):
        status, _, d = server.get(q("/api/geoff/explain", **src))
        assert status == 400 and d["field"] == field, (src, d)


def test_the_exact_view_of_a_tiny_T_is_not_argmaxs_0(server):
    """/api/geoff?exact=1 at T = 1e-300 wrote its temperature "0" (format_exact reads a number that near 0 as the
    fraction 0), argmax's T, which the run was not at."""
    _, _, d = server.get(q("/api/geoff", seq=EXAMPLE, T="1e-300", exact=1))
    assert d["temperature"] == 1e-300 and d["exact"]["temperature"] == "1.000e-300"
    _, _, d = server.get(q("/api/geoff", seq=EXAMPLE, T="0.5", exact=1))
    assert d["exact"]["temperature"] == "1/2"


@pytest.mark.parametrize("T", ["1e-9", "0.30000000000000004"])
def test_geoff_explain_at_a_tiny_or_long_T_says_T_as_typed_and_P_as_torch_softmax(server, T):
    """P[A, D] of the exam's example (visible scores 0 and 9): its explanation said "T = 1e-09" (Python's repr),
    and "T = 0.3" for 0.30000000000000004, another number; its value is torch.softmax(s / T) in float64 (at 1e-9
    e^(-9e9) underflows: 0, what the exact value is to any decimals shown)."""
    status, _, d = server.get(q("/api/geoff/explain", seq=EXAMPLE, T=T, cell="P[1,0]"))
    assert status == 200 and f"at T = {T}:" in d["summary"], d["summary"]
    want = torch.softmax(torch.tensor([0.0, 9.0], dtype=torch.float64) / float(T), dim=0)[0].item()
    assert math.isclose(d["value"], want, rel_tol=1e-12, abs_tol=0)
    assert d["exact"] == "0.0000" if want == 0 else math.isclose(float(d["exact"]), want, rel_tol=5e-4)


def test_geoff_explain_of_a_norm_and_of_a_step_result_is_the_library_with_the_steps_lr(server):
    from dlexam.geoff.explain import explain
    from dlexam.geoff.step import StepSettings

    body = {"sequence": EXAMPLE, "temperature": "0.5", "cell": "change[E]", "lr": 0.5, "matrices": ["E", "W_V"]}
    status, _, d = server.post("/api/geoff/explain", body)
    want = explain(geoff.GeoffQuery(EXAMPLE, 0.5), "change[E]", StepSettings(0.5, ("E", "W_V")))
    assert status == 200 and d == plain(want.to_json()) and d["lr"] == 0.5
    step = geoff.gradient_step(geoff.GeoffQuery(EXAMPLE, 0.5), 0.5, ("E", "W_V"))
    assert d["value"] == step.change["E"]  # the step's own number, as /api/geoff/step answers it
    status, _, d = server.get(q("/api/geoff/explain", seq=EXAMPLE, T="0.5", cell="norm[W_Q,T=0]"))
    assert status == 200 and d["exact"] == "0" and d["temperature"] == 0 and d["vanishes"] is True
    for src, field in (({"cell": "change[E]"}, "cell"), ({"cell": "loss_after", "lr": "0"}, "lr"),
                       ({"cell": "norm[W_Q,T=x]"}, "cell"), ({"cell": "loss_after", "matrices": "W_Z"}, "matrices")):
        status, _, d = server.get(q("/api/geoff/explain", seq=EXAMPLE, **src))
        assert status == 400 and d["field"] == field and "\n" not in d["error"], (src, d)


# The exam's two loss conventions in the library's words (dlexam geoff prints them), typed here.
CONVENTION_WORDS = {
    "teacher_forcing": {"short": "standard teacher forcing", "rule": "logit row t predicts token t+1",
                        "name": "standard teacher forcing (logit row t predicts token t+1)"},
    "exam": {"short": "the exam's convention", "rule": "each output token scored by its own row",
             "name": "the exam's convention (each output token scored by its own row)"}}


def test_geoff_defaults_name_the_loss_conventions_in_the_librarys_words(server):
    """/geoff typed its own names for the two conventions ("teacher forcing" from the code name, "the exam's
    convention (Problem 2.3)"); the defaults now carry the library's, which the page shows."""
    _, _, d = server.get("/api/geoff/defaults")
    assert d["conventions"] == ["teacher_forcing", "exam"] and d["convention_words"] == CONVENTION_WORDS


def test_a_variants_transformer_on_the_geoff_endpoints(server):
    from dlexam.geoff.weights import matrix_labels
    from dlexam.variants import make_variant

    t = make_variant(7, "harder").spec.transformer
    w = geoff.GeoffWeights.from_spec(t)
    _, _, d = server.get(q("/api/geoff/defaults", variant=7, difficulty="harder"))
    assert d["vocab"] == list(t.vocab) and d["example"] == " ".join(t.example) and d["variant"] == 7
    assert d["labels"] == {k: [list(r), list(c)] for k, (r, c) in matrix_labels(w).items()}
    _, _, a = server.get(q("/api/geoff/defaults"))
    # E's columns are the model's dimensions, named as W_O's (the exam's E = [I_4; 0; 0]: dimension j is symbol j's)
    assert a["labels"]["E"] == [list(geoff.VOCAB), ["A", "B", "C", "D"]] and a["variant"] is None
    assert a["labels"]["W_O"] == [["d1", "d2"], ["A", "B", "C", "D"]] and a["matrix_axes"]["X"] == ["positions", "dims"]
    _, _, r = server.get(q("/api/geoff", variant=7, difficulty="harder", heads=t.heads))
    want = geoff.analyse(geoff.GeoffQuery(" ".join(t.example), heads=t.heads, weights=w)).to_json()
    assert r["R"] == want["R"] and r["loss"]["exam"]["value"] == want["loss"]["exam"]["value"]
    status, _, r = server.get(q("/api/geoff", difficulty="harder"))
    assert status == 400 and r["field"] == "difficulty"


def test_the_one_head_numbers_beside_k_heads_are_explained_on_the_one_head_model(server):
    """/geoff's Problem 2.4 panel shows the one-head model's R and losses beside k heads; the page asks their
    explanations with heads = 1. On a variant whose heads have weights of their own (so one head and k heads differ
    in more than a column swap), at T = 0.5: every cell's explanation is of the one-head model, and gives the R of
    R = softmax(Q K^T / T, causal) V W_O computed here in float64 from the variant's one-head weights."""
    from dlexam.variants import make_variant

    seed = next(s for s in range(64) if geoff.GeoffWeights.from_spec(make_variant(s, "harder").spec.transformer)
                .multi_heads is not None and "<START>" in make_variant(s, "harder").spec.transformer.example)
    t = make_variant(seed, "harder").spec.transformer  # the first whose heads have weights of their own
    w = geoff.GeoffWeights.from_spec(t)
    seq, T = " ".join(t.example), 0.5
    m = {k: torch.tensor(getattr(w, k), dtype=torch.float64) for k in ("E", "W_Q", "W_K", "W_V", "W_O")}
    X = m["E"][[w.vocab.index(tok) for tok in t.example]]  # (n, d_model)
    n = X.shape[0]
    S = (X @ m["W_Q"]) @ (X @ m["W_K"]).T / T
    P = torch.softmax(S.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), -math.inf), dim=1)
    R = (P @ (X @ m["W_V"]) @ m["W_O"]).tolist()  # the one-head R
    base = {"variant": seed, "difficulty": "harder", "sequence": seq, "temperature": T}
    _, _, page = server.post("/api/geoff", {**base, "heads": 2})
    assert page["one_head"]["R"] != page["R"]
    for i in range(n):
        for j in range(len(R[0])):
            status, _, e = server.post("/api/geoff/explain", {**base, "heads": 1, "cell": f"R[{i},{j}]"})
            assert status == 200 and e["heads"] == 1, e
            assert e["computed"] == pytest.approx(R[i][j], abs=1e-9) == e["value"] == page["one_head"]["R"][i][j]
    _, _, e = server.post("/api/geoff/explain", {**base, "heads": 1, "cell": "loss"})
    for conv in ("exam", "teacher_forcing"):
        assert e["conventions"][conv]["computed"] == pytest.approx(page["one_head"]["loss"][conv]["value"], abs=1e-9)
    _, _, e = server.post("/api/geoff/explain", {**base, "heads": 2, "cell": "R[1,1]"})
    assert e["heads"] == 2 and e["value"] == page["R"][1][1]


@pytest.mark.parametrize(("trained_on", "asked", "taken"), [("04", "4", True), ("4", "04", True), ("4", " 4 ", True),
                                                           ("4", "5", False), ("A-D", "A-E", False)])
def test_the_trained_sorter_takes_its_vocabulary_however_spelled(trained_on, asked, taken):
    """/api/sort's trained model compared the vocabulary asked for by its spelling: a sorter trained on `04` (the
    symbols 0-3) refused vocab=4, where `dlexam sort --vocab 4 --checkpoint` reads it. The same symbols are the same
    vocabulary; other symbols are refused naming the field."""
    from types import SimpleNamespace

    from dlexam.serve.api_models import _sorter
    from dlexam.serve.params import BadRequest
    from dlexam.sorting.vocab import Vocabulary

    trained = SimpleNamespace(vocab=Vocabulary.from_spec(trained_on))
    state = SimpleNamespace(trained_sorter=trained)
    if taken:
        assert _sorter(state, "trained", asked) is trained
    else:
        with pytest.raises(BadRequest) as refused:
            _sorter(state, "trained", asked)
        assert refused.value.field == "vocab" and f"reads vocabulary {trained_on}, not" in str(refused.value)


def _stated_temperatures(command: str) -> str:
    """What `dlexam COMMAND --help` states a query temperature may be ("0, a number in (0, inf), or 'sqrt'")."""
    import re

    from dlexam.cli import build_parser
    from dlexam.commands import sort_options

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a.choices, dict)).choices[command.split()[0]]
    if command == "sort evaluate":  # `sort`'s actions have parsers of their own (commands/sort.py's _dispatch)
        sub = type(parser)(prog="dlexam sort evaluate")
        sort_options.evaluate_options(sub)
    help_text = next(a.help for a in sub._actions if "--temperature" in a.option_strings)
    stated = re.search(r"0, a number in \(0, [^\])]+[\])], or 'sqrt'", help_text)
    assert stated, help_text
    return stated[0]


@pytest.mark.parametrize(("path", "name"), [("/api/geoff", "T"), ("/api/geoff", "temperature"),
                                            ("/api/sort", "temperature")])
# inf and nan are text, quoted as 'abc' is: the page's T is read by the rule of its weight cells (a cell's "NaN" is "not
# a number"), not by float()'s, which read them as numbers ("got inf" until 2026-12-07; refused either way)
@pytest.mark.parametrize(("typed", "shown"), [("-1", "-1"), ("-1e-300", "-1e-300"), ("inf", "'inf'"), ("nan", "'nan'"),
                                              ("abc", "'abc'"), ("sqrt2", "'sqrt2'")])
def test_a_temperature_is_refused_in_the_words_of_the_command_line_s_help(server, path, name, typed, shown):
    """/geoff's T and /sort's temperature take what `dlexam geoff --temperature` and `dlexam sort --temperature` take,
    and say so in their help's words. Before (2026-12-07) the API said "temperature must be a finite number >= 0 or
    'sqrt', got '-1'" (for the field T too), a JSON value of a wrong type "T must be a number >= 0 or 'sqrt'", and the
    help "a number T > 0"."""
    words = _stated_temperatures("geoff")
    assert words == _stated_temperatures("sort") == _stated_temperatures("sort evaluate")
    status, _, d = server.get(q(path, **({"seq": "D A A"} if path == "/api/sort" else {}), **{name: typed}))
    assert status == 400 and d == {"error": f"{name} must be {words}, got {shown}", "field": name}, d


def test_T_lr_and_the_sort_temperature_go_by_the_weight_cells_rule_over_http(server):
    """T = '1_0' ran at T = 10 and '\u0662' at T = 2 (float()'s rules), where a weight cell refuses both; a fraction,
    which a cell takes, was refused. The words after "got" typed by hand (variants.typed.foreign's)."""
    words = _stated_temperatures("geoff")
    status, _, d = server.get(q("/api/geoff", T="1_0"))
    assert (status, d) == (400, {"error": f"T must be {words}, got '1_0' ('_' is no part of a number: write 10)",
                                 "field": "T"}), d
    status, _, d = server.get(q("/api/sort", seq="D A A", temperature="\u0662"))
    assert (status, d["field"]) == (400, "temperature") and d["error"].endswith(
        "got '\u0662' ('\u0662' is ARABIC-INDIC DIGIT TWO: write numbers with the digits 0-9)"), d
    status, _, d = server.post("/api/geoff/step", {"lr": "1_0"})
    assert (status, d["field"]) == (400, "lr") and d["error"].endswith("('_' is no part of a number: write 10)"), d
    status, _, d = server.get(q("/api/geoff", T="1/2"))
    assert status == 200 and d["temperature"] == 0.5 and d["T"] == "0.5", d


def test_a_temperature_of_a_wrong_json_type_is_refused_in_the_same_words(server):
    words = _stated_temperatures("geoff")
    for value, shown in ([0], "[0]"), (True, "True"), (-2, "-2"), ({"T": 1}, "{'T': 1}"), (None, "None"):
        status, _, d = server.post("/api/geoff", {"sequence": "D A A", "temperature": value})
        assert status == 400 and d == {"error": f"temperature must be {words}, got {shown}", "field": "temperature"}
    status, _, d = server.post("/api/geoff", {"sequence": "D A A <START> A D <STOP>", "temperature": 1e300})
    assert status == 200 and d["temperature"] == 1e300  # the top is float64's: T = 1e300 is one (docs/serve.md)


def test_the_sort_page_states_the_temperatures_the_cli_s_help_states(server):
    """The /sort page's note under its temperature field said "0 = argmax, a number T > 0, or sqrt" (2026-12-07)."""
    import html

    status, _, page = server.get("/sort", raw=True)
    assert status == 200 and _stated_temperatures("sort") in html.unescape(page.decode())


def test_svhn_predict_titles_its_maps_with_the_layer_tables_names(server):
    """/cnn headed its maps "after Pool-1" where the layer table and the exam say AvgPool-1, and "after Conv-1 (and
    its activation)" without saying the exam never names it. The titles come with the maps, from the layer table's
    names (typed here as the exam's table gives them)."""
    status, _, d = server.post("/api/svhn/predict", _png(digit_image()), headers={"Content-Type": "image/png"})
    assert status == 200, d
    relu = "ReLU (assumed: the exam's Figure 2 is missing)"
    assert d["stages"] == [{"stage": "conv1", "title": f"after Conv-1 + {relu}", "name": "Conv-1"},
                           {"stage": "pool1", "title": "after AvgPool-1", "name": "AvgPool-1"},
                           {"stage": "conv2", "title": f"after Conv-2 + {relu}", "name": "Conv-2"},
                           {"stage": "pool2", "title": "after AvgPool-2", "name": "AvgPool-2"}]


def test_svhn_predict_says_a_one_colour_image_is_blank(server):
    """A one-colour upload is all zeros once standardised: its digit is the network's bias, and the answer says so."""
    from PIL import Image

    status, _, d = server.post("/api/svhn/predict", _png(Image.new("RGB", (7, 5), (30, 200, 90))),
                               headers={"Content-Type": "image/png"})
    assert status == 200 and d["blank"] is True and 0 <= d["digit"] <= 9
    assert d["blank_note"] == "blank: one colour, nothing to read; the digit is the network's bias"  # predict's words
    status, _, d = server.post("/api/svhn/predict", _png(digit_image()), headers={"Content-Type": "image/png"})
    assert status == 200 and d["blank"] is False and d["blank_note"] is None


def test_a_sequence_longer_than_trained_is_said_with_its_unit():
    """/sort's warning read "longer than the 8 the model was trained on" ("the 1 the model" for a model trained on
    one symbol): now counted in words, as `dlexam sort` says it."""
    from dlexam.serve.api_models import sort_answer
    from dlexam.sorting.compiled import compile_sorter
    from dlexam.sorting.sorter import Sorter
    from dlexam.sorting.vocab import Vocabulary

    vocab = Vocabulary.from_spec("A-D")
    for trained, want in ((8, "9 symbols: longer than the 8 symbols the model was trained on"),
                          (1, "9 symbols: longer than the 1 symbol the model was trained on")):
        said = sort_answer(Sorter(compile_sorter(4), vocab, trained, "trained"), "D A A B C A D B C", None)
        assert said["warnings"] == [want], said["warnings"]
