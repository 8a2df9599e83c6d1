"""`dlexam geoff` end to end: human output, --json, --heads 2, --gradients, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dlexam.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_human_output_shows_every_matrix(capsys):
    code, out, _ = run(capsys, "geoff", "D A A <START> A D <STOP>")
    assert code == 0
    for title in ("X = embeddings", "Q = K = V", "Q K^T", "P = causal attention", "Z = P V", "R = Z W_O",
                  "logits = R E^T", "loss = 4.2114", "teacher forcing"):
        assert title in out, title
    # exact fractions from the exam's P and Z
    assert "1/7" in out and "3/4" in out and "9/7" in out


def test_json_fields(capsys):
    code, out, _ = run(capsys, "geoff", "D A A <START> A D <STOP>", "--json", "--gradients")
    data = json.loads(out)
    assert code == 0
    assert data["tokens"] == ["D", "A", "A", "<START>", "A", "D", "<STOP>"]
    assert data["attention"][3] == [0.25, 0.25, 0.25, 0.25, 0, 0, 0]
    assert len(data["logits"]) == 7 and len(data["logits"][0]) == 6
    assert round(data["loss"]["exam"]["value"], 4) == 4.2114
    assert data["loss"]["teacher_forcing"]["value"] > 4.2114
    assert set(data["gradients"]) == {"W_Q", "W_K", "W_V", "W_O"}
    assert data["gradient_comparison"]["T=0 (argmax)"]["vanishes"]["W_V"] is False
    # the vocabulary in E's row order and the weights, as numbers (issue 19 item 6)
    assert data["vocab"] == ["A", "B", "C", "D", "<START>", "<STOP>"]
    assert data["weights"]["W_O"] == [[0, 1, 0, 1], [1, 0, 1, 0]] and len(data["weights"]["E"]) == 6
    assert data["weights"]["multi_W_O"] == [[float(i == j) for j in range(4)] for i in range(4)]


def test_two_heads_shown_next_to_one(capsys):
    code, out, _ = run(capsys, "geoff", "--heads", "2", "--json")
    data = json.loads(out)
    assert code == 0 and data["heads"] == 2 and data["one_head"]["heads"] == 1
    assert data["R"] != data["one_head"]["R"]
    code, out, _ = run(capsys, "geoff", "--heads", "2")
    assert "one head" in out and "R differs" in out


def test_temperatures(capsys):
    for t in ("0", "1", "sqrt", "0.01"):
        code, out, _ = run(capsys, "geoff", "B C A <START> A B C <STOP>", "--temperature", t, "--json")
        assert code == 0
        rows = json.loads(out)["attention"]
        assert all(abs(sum(r) - 1) < 1e-12 for r in rows)


@pytest.mark.parametrize("argv, needle", [
    (["geoff", "D A X"], "unknown token 'X'"),
    (["geoff", ""], "empty sequence"),
    (["geoff", "D A A", "--loss"], "needs a <START>"),
    (["geoff", "D A A", "--gradients"], "needs a <START>"),
    (["geoff", "--temperature", "hot"], "--temperature"),
    # a number float64 cannot hold is named as typed: --lr 1e-400 was "got 0.0", --temperature 1e-400 ran at T = 0
    (["geoff", "--explain", "change[W_V]", "--lr", "1e-400"], "--lr: 1e-400 is too small for a float64 number"),
    (["geoff", "--explain", "change[W_V]", "--lr", "1e400"], "--lr: 1e400 is too large for a float64 number"),
    (["geoff", "--temperature", "1e-400"], "--temperature: 1e-400 is too small for a float64 number"),
    (["geoff", "--explain", "norm[W_Q,T=1e-400]"], "1e-400 is too small for a float64 number"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and needle in err
    if "token" in needle or "START" in needle:
        assert "<STOP>" in err  # the error lists the vocabulary


@pytest.mark.parametrize("names, says", [
    ("W_V,W_V", "lists W_V twice: list it once"),  # was stepped as W_V alone without a word
    ("W_V, E,W_V", "lists W_V twice: list it once"),
    ("W_O,multi_W_O", "W_O and multi_W_O name one matrix"),  # was a step of one of them
    ("w_v", "unknown matrix 'w_v' (did you mean 'W_V'?)"),  # was "must be some of E, W_Q, ..., got w_v"
    # an empty item was skipped without a word (E,,W_Q stepped E and W_Q), by the flag and the API's text alike
    ("E,,W_Q", "has an empty item (two commas together, or a comma at an end): list some of E, W_Q, W_K, W_V, W_O"),
    ("W_V,", "has an empty item"), (", W_V", "has an empty item"),
])
def test_step_matrices_are_refused_as_the_api_refuses_them(capsys, names, says):
    """--step-matrices and the API's `matrices` name one list: a name given twice, two names of the output matrix or
    an unknown name are one error line, exit 2, in the API's words with the flag for the field (the oracle: the
    API's own refusal of the same text, serve.params.names)."""
    from dlexam import geoff
    from dlexam.serve import params

    code, out, err = run(capsys, "geoff", "--explain", "change[W_V]", "--step-matrices", names)
    assert code == 2 and out == "" and err.count("\n") == 1 and says in err, err
    with pytest.raises(params.BadRequest) as refused:
        params.names("matrices", names, geoff.STEP_NAMES)
    assert err == f"dlexam: error: {refused.value.message.replace('matrices', '--step-matrices', 1)}\n"


def test_no_traceback_in_a_real_process():
    p = subprocess.run([sys.executable, "-m", "dlexam", "geoff", "D A Q"], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.startswith("dlexam: error:")


def test_explain_help_counts_loss_positions_as_the_explanation_and_the_exam_do(capsys):
    """--help once called loss[4] 'the token at position 4' while the explanation (and the exam's P(y_5 = A))
    call that token, the first A after <START>, position 5."""
    tokens = "D A A <START> A D <STOP>".split()
    index = tokens.index("<START>") + 1  # 4, counting from 0: the first output token, A
    position = index + 1  # 5: the exam's y_5, positions counted from 1
    code, out, _ = run(capsys, "geoff", "--help")
    help_text = " ".join(out.split())
    gloss = help_text.split(f"'loss[{index}]' (", 1)[1].split(")", 1)[0]
    assert f"position {index}" not in gloss and f"position {position}" in gloss
    code, out, _ = run(capsys, "geoff", "--explain", f"loss[{index}]")
    assert code == 0 and f"the target {tokens[index]} at position {position}" in out


@pytest.mark.parametrize("temperature", [0.3, 0.5, 2.0])
def test_p_at_a_positive_temperature_writes_no_weight_as_a_fraction_it_is_not(capsys, temperature):
    # the oracle: the exam's scores QK^T (its Q = K = V, typed in tests/test_geoff.py) through torch.softmax with the
    # causal mask; at T = 0.3, P[A, A] = 1 - 9.4e-14 was written "1" and the third row's 0.49999999999995 "1/2"
    from fractions import Fraction

    import torch

    from tests.test_geoff import EXAM_QKV

    q = torch.tensor(EXAM_QKV, dtype=torch.float64)
    s = (q @ q.T) / temperature
    s = s.masked_fill(torch.triu(torch.ones(7, 7, dtype=torch.bool), 1), float("-inf"))
    oracle = torch.softmax(s, -1).tolist()
    code, out, _ = run(capsys, "geoff", "--temperature", str(temperature))
    lines = out.split("P = causal attention (7x7):\n", 1)[1].splitlines()[1:8]
    cells = [line.split("[", 1)[1].rstrip("]").split() for line in lines]
    assert code == 0 and len(cells) == 7
    for i, row in enumerate(cells):
        for j, text in enumerate(row):
            want = oracle[i][j]
            if "e" in text or "." in text:  # a decimal: right to the digits it shows
                assert abs(float(text) - want) <= 0.5 * 10 ** -4 + 1e-3 * abs(want), (i, j, text, want)
            else:  # a fraction: the weight exactly, to float64's rounding
                assert abs(float(Fraction(text)) - want) <= 1e-15, (i, j, text, want)


@pytest.mark.parametrize("argv", [
    ("--explain", "change[W_V]", "--step-matrices", "W_V,multi_W_O"),
    ("--explain", "change[multi_W_O]"),
    ("--explain", "norm[multi_W_O]"),
    ("--explain", "dmulti_W_O[0,0]", "--gradients"),
], ids=["step-matrices", "change", "norm", "gradient-cell"])
def test_multi_W_O_with_one_head_is_one_line_and_status_2(capsys, argv):
    """With one head the model uses W_O: multi_W_O (Problem 2.4's k heads' output matrix) had been read as W_O
    without a word (2026-12-07)."""
    code, out, err = run(capsys, "geoff", *argv)
    assert code == 2 and out == "", out
    assert len(err.strip().splitlines()) == 1 and "heads = 1 uses W_O" in err, err
    if "--step-matrices" in argv:
        assert "--step-matrices" in err, err


def test_tokens_run_together_get_the_web_pages_hint(capsys):
    """A student's "DAA <START> AD <STOP>": the page and the API say how to write it; the command had said only
    "unknown token 'DAA'" (2026-12-07). The fix typed here."""
    code, out, err = run(capsys, "geoff", "DAA <START> AD <STOP>")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.strip().endswith("separate tokens with spaces: D A A <START> A D <STOP>"), err


def test_tokens_in_lower_case_are_refused_saying_the_symbols_case(capsys):
    """`geoff "d a a <start>"` was "unknown token 'd'" alone; the symbols as written in the vocabulary typed here."""
    code, out, err = run(capsys, "geoff", "d a a <start> a d <stop>")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.strip().endswith("; symbols are case-sensitive: D A A <START> A D <STOP>"), err


def test_the_head_count_is_said_in_words(capsys):
    assert run(capsys, "geoff")[1].splitlines()[0].startswith("Geoff's transformer (Problem 2): 1 head, temperature")
    assert ": 2 heads, temperature" in run(capsys, "geoff", "--heads", "2")[1].splitlines()[0]


def test_every_view_names_a_loss_convention_in_the_same_words(capsys):
    """An audit found four wordings of the two loss conventions: `dlexam geoff`'s loss table, --gradients'
    "teacher forcing loss" (the code name with its underscore replaced), --explain's "the exam's convention
    (Problem 2.3)" and Pr2.4's "(exam convention)". Each view now says "standard teacher forcing" and "the exam's
    convention" (typed here, not read from the code)."""
    tf, exam = "standard teacher forcing", "the exam's convention"
    out = run(capsys, "geoff", "--gradients")[1]
    assert f"gradients of the {tf} loss" in out
    out = run(capsys, "geoff", "--explain", "loss")[1]
    assert f"{tf}: L = " in out and f"{exam}: L = " in out and "(Problem 2.3):" not in out
    out = run(capsys, "geoff", "--explain", "loss[4]")[1]
    assert f"{tf} scores it with row 4" in out and f"{exam} scores it with row 5" in out
    from dlexam.answers import problem2

    computed = problem2.pr2_4().computed
    assert f"({exam})" in computed and f"({tf})" in computed and "(exam convention)" not in computed


@pytest.mark.parametrize(("typed", "says"), [
    ("sqrt", f"temperature sqrt(d_k) = sqrt(2) = {2 ** 0.5:.4g}"),  # d_k = 2: W_Q is 4x2 in the exam
    ("0.5", "temperature 0.5"), ("0", "temperature 0 (argmax; tied maxima share the weight)"),
    # the number typed, not Python's 1e-09 nor "0.3", which `:.4g` made of 0.30000000000000004 (another number)
    ("1e-9", "temperature 1e-9"), ("0.30000000000000004", "temperature 0.30000000000000004"),
    ("123456.5", "temperature 123456.5"),
])
def test_the_header_says_the_temperature_as_typed(capsys, typed, says):
    """`--temperature sqrt` was headed "temperature 1.414", a number the user never typed, without saying it is
    sqrt(d_k) (2026-12-07); the explanations write it "T = sqrt(d_k) = sqrt(2) = 1.4142"."""
    first = run(capsys, "geoff", "--temperature", typed)[1].splitlines()[0]
    assert first == f"Geoff's transformer (Problem 2): 1 head, {says}"


@pytest.mark.parametrize(("argv", "flag"), [
    (["--explain", "P[3,0]", "--lr", "0.5"], "--lr"),
    (["--explain", "dW_V[0,1]", "--step-matrices", "W_V"], "--step-matrices"),
    (["--explain", "P[3,0]", "--convention", "exam"], "--convention"),
    (["--explain", "loss", "--convention", "exam"], "--convention"),  # the loss's explanation shows both conventions
])
def test_a_flag_the_explained_cell_does_not_use_is_refused_not_dropped(capsys, argv, flag):
    """`--explain "P[3,0]" --lr 0.5` printed P's explanation and dropped --lr without a word (2026-12-07): --lr and
    --step-matrices shape a gradient step's results only, --convention a gradient's."""
    code, out, err = run(capsys, "geoff", *argv)
    assert (code, out) == (2, "") and err.count("\n") == 1 and err.startswith(f"dlexam: error: {flag} ")


def test_the_flags_an_explained_cell_uses_are_taken(capsys):
    # change[W_V] = lr x max |dL/dW_V| = lr x 0.9791 (autograd's dL/dW_V[D, d1] at T = 0, teacher forcing)
    code, out, _ = run(capsys, "geoff", "--explain", "change[W_V]", "--lr", "0.5", "--step-matrices", "W_V")
    assert code == 0 and "= 0.5 x |0.9791| = 0.4895" in out  # 0.5 x 0.979097 (autograd, 2026-12-07)
    code, out, _ = run(capsys, "geoff", "--explain", "dW_V[0,1]", "--convention", "exam")
    assert code == 0 and "exam" in out


@pytest.mark.parametrize("typed, named", [("sqrt", "sqrt"), ("0", "0"), ("0.5", "0.5"), ("1", "1")])
def test_json_names_the_temperature_as_the_text_output_does(capsys, typed, named):
    """`--temperature sqrt --json` gave "temperature": 1.4142135623730951 alone, where the text output says
    "temperature sqrt(d_k) = sqrt(2) = 1.414": the JSON's "T" names it as a cell's name does ("sqrt", "0", "0.5"), as
    each row of "gradient_comparison" has done. Oracle: d_k = W_Q's column count, and math.sqrt."""
    import math

    code, out, _ = run(capsys, "geoff", "--temperature", typed, "--json")
    data = json.loads(out)
    assert code == 0 and data["T"] == named
    d_k = len(data["weights"]["W_Q"][0])
    assert data["temperature"] == (math.sqrt(d_k) if typed == "sqrt" else float(typed))
