"""Every view names the rows and columns of Problem 2's matrices alike (2026-12-07): E's columns had been c1..c4 in a
variant's documents and d1..d4 on /geoff and in the report, while W_O's and R's columns (the same d_model
dimensions, the ones E^T meets) were A..D; `dlexam geoff` headed neither X's, R's nor a gradient's columns. The
oracles: the exam's formulas (X = rows of E, Q = X W_Q, R = Z W_O, logits = R E^T: each product's inner axes are one
axis, so they must carry one name) and the exam's E = [I_4; 0; 0], whose column j is the unit vector of the j-th
symbol, typed here."""

from __future__ import annotations

import re

import pytest

from dlexam import geoff
from dlexam.cli import main

VOCAB = ["A", "B", "C", "D", "<START>", "<STOP>"]  # E's rows, as the exam writes them beside E
DIMS = ["A", "B", "C", "D"]  # E = [I_4; 0; 0]: dimension j is the unit vector of symbol j's embedding
HEAD = ["d1", "d2"]  # W_Q's two columns: no token names them


def test_the_exams_matrices_are_named_by_the_exams_axes():
    from dlexam.geoff.weights import labels

    w, toks = geoff.EXAM_WEIGHTS, ["D", "A", "A", "<START>", "A", "D", "<STOP>"]
    named = {n: tuple(map(list, labels(w, n, toks))) for n in
             ("E", "W_Q", "W_K", "W_V", "W_O", "X", "Q", "K", "V", "S", "P", "Z", "R", "logits")}
    assert named["E"] == (VOCAB, DIMS) and named["W_O"] == (HEAD, DIMS) and named["W_Q"] == (DIMS, HEAD)
    assert named["X"] == (toks, DIMS) and named["R"] == (toks, DIMS) and named["logits"] == (toks, VOCAB)
    assert named["P"] == (toks, toks) and named["Z"] == (toks, HEAD)
    for left, right in [("X", "W_Q"), ("X", "W_K"), ("X", "W_V"), ("P", "V"), ("Z", "W_O")]:  # left @ right
        assert named[left][1] == named[right][0], (left, right)
    assert named["R"][1] == named["E"][1] and named["logits"][1] == named["E"][0]  # logits = R E^T
    assert named["Q"][1] == named["K"][1]  # S = Q K^T: Q's columns meet K's


def test_k_heads_name_the_concatenation():
    from dlexam.geoff.weights import labels

    assert [list(x) for x in labels(geoff.EXAM_WEIGHTS, "multi_W_O")] == [["d1", "d2", "d3", "d4"], DIMS]


def header(block: str) -> list[str]:
    """The column labels of one matrix of `dlexam geoff`'s text (the line after its title)."""
    return block.splitlines()[1].split()


def blocks(out: str) -> dict[str, str]:
    """title -> the matrix's lines from its title "NAME (RxC):" on."""
    found = {}
    for b in out.split("\n\n"):
        lines = b.splitlines()
        at = [i for i, line in enumerate(lines) if re.match(r"^\S.* \(\d+x\d+\):$", line)]
        if at:
            found[lines[at[0]].rsplit(" (", 1)[0]] = "\n".join(lines[at[0]:])
    return found


def test_the_command_heads_every_matrix(capsys):
    assert main(["geoff", "--gradients"]) == 0
    found = blocks(capsys.readouterr().out)
    assert header(found["X = embeddings of the tokens (rows of E)"]) == DIMS
    assert header(found["R = Z W_O"]) == DIMS
    assert header(found["Q = K = V = X W_Q (W_Q = W_K = W_V)"]) == HEAD and header(found["Z = P V"]) == HEAD
    assert header(found["logits = R E^T"]) == VOCAB
    grad = found["d loss / d W_O"]
    assert header(grad) == DIMS and [r.split()[0] for r in grad.splitlines()[2:]] == HEAD
    grad = found["d loss / d W_Q"]
    assert header(grad) == HEAD and [r.split()[0] for r in grad.splitlines()[2:]] == DIMS


@pytest.mark.parametrize("cell", ["dE[<START>,A]", "dE[<START>,d1]", "dE[4,0]"])
def test_a_cell_on_the_model_axis_by_its_name(capsys, cell):
    """E's column A (d1, its old name, still read): one number, the explanation names it A."""
    assert main(["geoff", "--explain", cell]) == 0
    assert "dE[<START>, A]" in capsys.readouterr().out.replace("d loss / d E", "dE")
