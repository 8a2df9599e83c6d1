"""attention_steps (for the report) and the demo."""

from __future__ import annotations

from dlexam.commands.demo import format_steps, print_sort_demo
from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.demo import run_demo
from dlexam.sorting.inspect import attention_steps
from dlexam.sorting.vocab import Vocabulary


def test_attention_steps_of_the_compiled_solver_on_the_exam_example():
    v = Vocabulary.from_spec("A-D")
    a = attention_steps(compile_sorter(4), v, "D A A")
    assert a.tokens == ["D", "A", "A", "<START>", "A", "D", "<STOP>"]
    assert a.output == ["A", "D"] and a.temperature == 0
    assert len(a.P) == 1 and len(a.P[0]) == 1 and len(a.P[0][0]) == 7
    # step 1: <START> attends to the two A's equally; step 2: A attends to D; step 3: D falls back to <START>
    assert [(s.query, s.produced) for s in a.steps] == [("<START>", "A"), ("A", "D"), ("D", "<STOP>")]
    assert a.steps[0].weights == [[0.0, 0.5, 0.5, 0.0]]
    assert a.steps[1].weights == [[1.0, 0.0, 0.0, 0.0, 0.0]]
    assert a.steps[2].weights == [[0.0, 0.0, 0.0, 1.0, 0.0, 0.0]]
    assert a.P[0][0][3][:4] == [0.0, 0.5, 0.5, 0.0]  # the same row in the full matrix
    assert "<START>:1.00 -> <STOP>" in format_steps(a)


def test_demo_runs_and_sorts(capsys):
    d = run_demo()
    assert ("D A A", "A D") in d.examples and d.correct == d.batch == 64
    print_sort_demo(d)
    out = capsys.readouterr().out
    assert "D A A          -> A D" in out and "64/64 exactly" in out


def test_attention_steps_of_an_answer_without_stop_are_the_steps_decoded():
    """A model that never says <STOP> decodes n_symbols + 1 tokens, one step each; before, attention_steps listed one
    step more, whose output (from the forward pass over the finished sequence) greedy decoding never produced."""
    import torch

    v = Vocabulary.from_spec("A-D")
    model = compile_sorter(4)
    with torch.no_grad():  # every attention output becomes A's logit: the model answers A A A ... and never stops
        model.layers[0].W_O.zero_()[:, 0] = 1.0
    a = attention_steps(model, v, "D B")
    assert a.output == ["A"] * 5 and a.tokens == ["D", "B", "<START>"] + ["A"] * 5  # max_steps: 4 symbols + 1
    assert [(s.query, s.produced) for s in a.steps] == [("<START>", "A")] + [("A", "A")] * 4
    assert [s.position for s in a.steps] == [2, 3, 4, 5, 6]
