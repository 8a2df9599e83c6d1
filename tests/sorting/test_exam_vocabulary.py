"""The sorters' default vocabulary is the exam's (dlexam.spec): its symbols, then its start and stop tokens, in the
row order of the exam's E. Nothing in sorting/ types A-D, <START> or <STOP> again (EXAM_VOCAB, START_TEXT and
STOP_TEXT come from the spec), so these hold by construction; they fail if the name stops spelling the spec's symbols
(a spec whose symbols are no letter range)."""

from __future__ import annotations

from dlexam.sorting.config import TrainConfig
from dlexam.sorting.sorter import load_sorter
from dlexam.sorting.vocab import EXAM_VOCAB, Vocabulary
from dlexam.spec import VERSION_A


def test_the_default_vocabulary_is_the_specs_tokens_in_the_order_of_e():
    v = Vocabulary.from_spec()
    assert v.spec == EXAM_VOCAB
    assert tuple(v.format(range(v.size)).split()) == VERSION_A.transformer.vocab


def test_training_and_the_compiled_solver_default_to_the_exams_vocabulary():
    assert Vocabulary.from_spec(TrainConfig().vocab).symbols == VERSION_A.transformer.symbols
    assert load_sorter().vocab.symbols == VERSION_A.transformer.symbols
