"""The trained A-D sorter shipped inside the package: what it is, that it sorts exactly, that one command
rebuilds its weights bit for bit, and that `dlexam sort --trained` and `dlexam serve` use it."""

from __future__ import annotations

import itertools
import json
import random

import pytest
import torch

from dlexam import checkpoint
from dlexam.cli import main
from dlexam.sorting.decode import greedy_decode
from dlexam.sorting.shipped import COMMAND, RECIPE, load_shipped, shipped_path
from dlexam.sorting.trained import KIND
from dlexam.sorting.vocab import Vocabulary

VOCAB = Vocabulary.from_spec("A-D")


def test_the_file_is_a_small_sorter_checkpoint_that_says_how_it_was_made():
    path = shipped_path()
    assert path.is_file() and path.stat().st_size < 8_000  # a few kB
    payload = checkpoint.load(path, kind=KIND)  # weights_only: no code runs
    extra, prov = payload["extra"], payload["provenance"]
    assert extra["command"] == COMMAND and extra["finished"] is True and extra["step"] == RECIPE["steps"]
    assert {k: extra["train_config"][k] for k in RECIPE} == RECIPE  # the seed among them
    assert {"torch", "threads", "cpu_capability"} <= set(prov)
    sorter = load_shipped()
    cfg = sorter.model.cfg
    assert (cfg.n_layers, cfg.n_heads, cfg.d_ff, cfg.residual, cfg.positional) == (1, 1, 0, False, "none")
    assert sum(p.numel() for p in sorter.model.parameters()) == 180 and sorter.vocab == VOCAB
    assert not sorter.compiled and sorter.finished and "shipped" in sorter.name


def _exact(model, inputs, temperature) -> float:
    got = greedy_decode(model, VOCAB, inputs, temperature=temperature).outputs
    return sum(g == sorted(set(x)) for g, x in zip(got, inputs, strict=True)) / len(inputs)


@pytest.mark.parametrize("temperature", [None, 0.0])  # its own softmax temperature (0.1), and argmax
def test_exact_on_every_input_of_lengths_1_to_8_and_a_sample_of_9_to_32(temperature):
    """docs/sorting.md's A-D targets, met exactly: the oracle is sorted(set(x))."""
    model = load_shipped().model
    every = [list(s) for n in range(1, 9) for s in itertools.product(range(4), repeat=n)]  # 87,380 inputs
    assert _exact(model, every, temperature) == 1.0
    rng = random.Random(20)
    longer = [[rng.randrange(4) for _ in range(n)] for n in range(9, 33) for _ in range(100)]
    assert _exact(model, longer, temperature) == 1.0


def test_decoding_by_the_full_forward_pass_agrees():
    """Without any cache or counting: the model's plain forward pass over the whole prefix, step by step."""
    model = load_shipped().model
    rng = random.Random(21)
    inputs = [[rng.randrange(4) for _ in range(rng.randint(0, 20))] for _ in range(200)]
    for t in (None, 0.0):
        got = greedy_decode(model, VOCAB, inputs, temperature=t, cache=False).outputs
        assert got == [sorted(set(x)) for x in inputs]


def test_one_command_rebuilds_it_bit_for_bit(tmp_path, capsys):
    prov = checkpoint.load(shipped_path(), kind=KIND)["provenance"]
    here = checkpoint.provenance()
    if any(prov[k] != here[k] for k in ("torch", "cpu_capability", "machine")):
        pytest.skip(f"bit-identity holds for torch {prov['torch']} on {prov['cpu_capability']}, not "
                    f"{here['torch']} on {here['cpu_capability']}")
    out = tmp_path / "run"
    argv = COMMAND.split()[1:-1] + [str(out), "--json"]  # `sort train --recipe shipped --out OUT`
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exact_match"]["trained"]["T0"] == 1.0
    rebuilt = checkpoint.load(out / "last.pt", kind=KIND)
    shipped = checkpoint.load(shipped_path(), kind=KIND)
    assert rebuilt["config"] == shipped["config"]
    assert rebuilt["state_dict"].keys() == shipped["state_dict"].keys()
    for name, w in shipped["state_dict"].items():
        assert torch.equal(rebuilt["state_dict"][name], w), name
    assert rebuilt["extra"]["command"] == COMMAND


def test_sort_trained_uses_it(capsys):
    assert main(["sort", "--trained", "C A D B A C"]) == 0
    assert capsys.readouterr().out == "A B C D\n"
    assert main(["sort", "--trained", "--temperature", "0", "D A A"]) == 0
    assert capsys.readouterr().out == "A D\n"
    assert main(["sort", "evaluate", "--trained", "--lengths", "2-4", "--samples", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["made_by"] == COMMAND and [r["overall"] for r in report["results"]] == [1.0, 1.0]
    for argv, needle in ((["sort", "--trained", "--vocab", "A-Z", "A"], "vocabulary A-D, not A-Z"),
                         (["sort", "--trained", "--checkpoint", str(shipped_path()), "A"], "not both")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1


def test_the_server_shows_it_when_no_checkpoint_is_given():
    from dlexam.serve.state import ServeSettings, load_state

    state = load_state(ServeSettings())
    assert state.trained_sorter is not None and "shipped" in state.trained_sorter.name
    assert state.trained_sorter.vocab == VOCAB
