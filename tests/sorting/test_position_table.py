"""A sorter with learned positions has a table of 2 max_len + 2 + symbols rows (`sorting.config.model_config`); an
input whose symbols, <START> and answer take more positions reads the table's last row at every position beyond it
(`DecoderTransformer.embed` clamps). The warning said only "longer than the N symbols the model was trained on";
now a second one says that positions beyond the table reuse its last row, and by how many positions the furthest
input went beyond it.

Oracle: the compiled A-D solver's weights in a model with a zeroed table of 12 learned positions answer exactly
sorted(set(x)) (a zero row adds nothing), so the positions each input takes are counted by hand: its symbols,
<START>, and one per answer symbol fed back."""

from __future__ import annotations

import io
from dataclasses import replace

from dlexam.cli import main
from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.sorter import Sorter, StreamNotes, answer, answer_stream
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer

TABLE = 12


def learned_sorter() -> Sorter:
    compiled = compile_sorter(4)
    model = DecoderTransformer(replace(compiled.cfg, positional="learned", max_len=TABLE))
    model.load_state_dict(compiled.state_dict(), strict=False)  # its table stays zero
    return Sorter(model.eval(), Vocabulary.from_spec("A-D"), 3, "a test sorter", {"finished": True})


def test_inputs_past_the_table_are_warned_about_with_how_far_past():
    texts = ["A B C D A B C D A B",  # 10 symbols + <START> + 4 answer symbols = 15 positions: 3 beyond 12
             "D A",  # 2 + 1 + 2 = 5: within the table, longer than trained (3) only
             "C C C C C C C C C C C",  # 11 + 1 + 1 = 13: 1 beyond
             "B A B A B A B A"]  # 8 + 1 + 2 = 11: within (longer than trained)
    got = answer(learned_sorter(), texts)
    assert got.lines == ["A B C D", "A D", "C", "A B"]  # the oracle's answers: sorted(set(x))
    assert len(got.warnings) == 2 and got.warnings[0].startswith("3 inputs longer than the 3 symbols")
    w = got.warnings[1]
    assert w.startswith("2 inputs took more positions than the model's table of 12 learned positions (0-11): "), w
    assert "the furthest, 10 symbols, took 15 with <START> and its answer, 3 beyond the table" in w, w
    assert "reuses the table's last row (position 11)" in w, w
    stream = answer_stream(learned_sorter(), io.BytesIO(b"A B C D A B C D A B C D\nA\n"),
                           notes=(notes := StreamNotes(3)), chunk_lines=1)
    assert list(stream) == ["A B C D", "A"]
    assert (notes.past_table, notes.most_past, notes.most_past_len) == (1, 12 + 1 + 4 - TABLE, 12)


def test_inputs_within_the_table_or_without_learned_positions_say_nothing_of_a_table():
    assert all("table" not in w for w in answer(learned_sorter(), ["A B C D A B C", "D"]).warnings)
    compiled = Sorter(compile_sorter(4), Vocabulary.from_spec("A-D"), 3, "no positions", {"finished": True})
    assert all("table" not in w for w in answer(compiled, ["A B C D A B C D A B C D A B C D"]).warnings)


def test_sort_warns_of_a_trained_checkpoints_table(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["sort", "train", "--quick", "--max-len", "2", "--positional", "learned", "--out", str(run),
                 "--quiet"]) == 0
    capsys.readouterr()
    text = "A B C D A B C D A B C D"
    assert main(["sort", "--checkpoint", str(run), text]) == 0
    out, err = capsys.readouterr()
    table = 2 * 2 + 2 + 4  # model_config: 2 max_len + 2 + symbols
    used = 12 + 1 + len(out.split())  # its symbols, <START> and the answer it printed (fed back one at a time)
    if "step limit" in err:
        used -= 1  # the last symbol of an answer the step limit cut was never fed back
    assert f"the model's table of {table} learned positions (0-{table - 1})" in err, err
    assert f"the furthest, 12 symbols, took {used} with <START> and its answer, {used - table} beyond" in err, err
    # `sort evaluate` past the table gave no warning (an audit, 2026-12-07); it now gives `sort`'s, counted over
    # the inputs it decodes (at the first temperature it reports: each input once)
    assert main(["sort", "evaluate", "--checkpoint", str(run), "--lengths", "30", "--samples", "5"]) == 0
    err = capsys.readouterr().err
    assert f"5 inputs took more positions than the model's table of {table} learned positions (0-{table - 1})" \
           in err, err
    assert "the furthest, 30 symbols, took " in err and "reuses the table's last row" in err, err
