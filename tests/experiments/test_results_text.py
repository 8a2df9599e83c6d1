"""The words of an experiment's result: counts in words (the findings' and captions' typesetting is checked for
every experiment by `helpers.check_words`, from each experiment's own test)."""

from __future__ import annotations


def test_a_count_names_its_noun_in_the_singular_only_for_one():
    from dlexam.words import counted

    assert [counted(1, "seed"), counted(3, "seed"), counted(0, "epoch"), counted(1.0, "CPU second"),
            counted(15.5, "CPU second"), counted(16384, "image")] == \
        ["1 seed", "3 seeds", "0 epochs", "1 CPU second", "15.5 CPU seconds", "16,384 images"]


def test_one_run_is_not_called_a_mean():
    from dlexam.words import mean_of

    said = [mean_of(1, "seed"), mean_of(3, "seed"), mean_of(2, "seed", "means over"), mean_of(1, "seed", "means over")]
    assert said == ["1 seed", "mean of 3 seeds", "means over 2 seeds", "1 seed"]
