"""The trained sorter that ships with dlexam: Problem 2's task over A-D, learned, in the exam's architecture.

``shipped.pt`` beside this file is an ordinary sorter checkpoint (kind ``sort-transformer``, loaded
with ``weights_only``): one layer, one head, no positional encodings, feed-forward or residual,
d_model 6 (the one-hot width), 180 parameters, trained on inputs of lengths 0-8 by
``dlexam sort train --recipe shipped --out OUT`` (:data:`RECIPE`: `sort train`'s defaults with
2,000 steps and no straight-through phase; the file is OUT/last.pt). Its checkpoint records how it was
made: the command and the training config (the seed among it) in ``extra``, and the torch version, thread count and CPU
instruction set in its provenance. Rebuilt with the same torch build, CPU capability and one thread,
the weights are bit-identical (tests/sorting/test_shipped.py rebuilds it).

`dlexam sort --trained`, `dlexam sort evaluate --trained` and the /sort page of `dlexam serve` (when
no --sort-checkpoint is given) use it.
"""

from __future__ import annotations

from pathlib import Path

FILE = "shipped.pt"
# over TrainConfig's defaults; without the straight-through phase added on 2026-12-07 (shipped.pt predates it)
RECIPE = {"vocab": "A-D", "max_len": 8, "steps": 2000, "seed": 0, "hard_fraction": 0.0}
COMMAND = "dlexam sort train --recipe shipped --out OUT"


def shipped_path() -> Path:
    """The shipped checkpoint's path inside the installed package."""
    return Path(__file__).resolve().parent / FILE


def load_shipped(vocab_spec: str | None = None):
    """The shipped sorter as a :class:`dlexam.sorting.sorter.Sorter` (UserError if `vocab_spec` is not A-D)."""
    from dataclasses import replace

    from dlexam.errors import UserError
    from dlexam.sorting.sorter import load_sorter
    from dlexam.sorting.vocab import Vocabulary

    if vocab_spec is not None and Vocabulary.from_spec(vocab_spec).spec != RECIPE["vocab"]:
        raise UserError(f"the shipped sorter reads vocabulary {RECIPE['vocab']}, not {vocab_spec} (the compiled "
                        "solver reads any)")
    sorter = load_sorter(None, shipped_path())
    return replace(sorter, name=f"the trained sorter shipped with dlexam ({FILE}), vocabulary {sorter.vocab.spec}")
