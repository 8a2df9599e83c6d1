"""dlexam.svhn.data.realdata's summaries of runs over seeds: worst first, and paired differences."""

from dlexam.svhn.data.realdata import accuracy_difference, compare_groups, worst_first

RUNS = [
    {"seed": 0, "svhn_dev": 0.816, "chars74k": 0.9292, "mnist2000": 0.9095, "synth_heldout": 0.967},
    {"seed": 1, "svhn_dev": 0.810, "chars74k": 0.9275, "mnist2000": 0.9355, "synth_heldout": None},
    {"seed": 2, "svhn_dev": 0.830, "chars74k": 0.9393, "mnist2000": 0.9095, "synth_heldout": 0.963},
    {"seed": 3, "svhn_dev": 0.810, "chars74k": 0.9400, "mnist2000": 0.9500},  # a check absent altogether
]


def test_worst_first_orders_by_the_set_then_seed_and_takes_each_checks_minimum():
    ordered, worst = worst_first(RUNS)
    assert [r["seed"] for r in ordered] == [1, 3, 0, 2]  # 0.810 (s1), 0.810 (s3), 0.816, 0.830
    assert worst == {"svhn_dev": 0.810, "chars74k": 0.9275, "mnist2000": 0.9095, "synth_heldout": 0.963}
    assert [r["seed"] for r in RUNS] == [0, 1, 2, 3]  # the input is left as it was


def test_worst_first_by_another_set_and_with_a_check_no_run_has():
    ordered, worst = worst_first([{"seed": 5, "mnist2000": 0.95, "svhn_dev": None},
                                  {"seed": 4, "mnist2000": 0.93, "svhn_dev": None}], by="mnist2000")
    assert [r["seed"] for r in ordered] == [4, 5]
    assert worst == {"svhn_dev": None, "chars74k": None, "mnist2000": 0.93, "synth_heldout": None}


def test_accuracy_difference_is_rounded_and_none_where_either_side_is_missing():
    a = {"svhn_dev": 0.832, "chars74k": 0.9646, "mnist2000": None, "synth_heldout": 0.9795}
    b = {"svhn_dev": 0.810, "chars74k": 0.9275, "mnist2000": 0.9095}
    assert accuracy_difference(a, b) == {"svhn_dev": 0.022, "chars74k": 0.0371, "mnist2000": None,
                                         "synth_heldout": None}


def test_compare_groups_pairs_each_groups_worst_seed_with_the_baselines():
    other = [{"seed": 0, "svhn_dev": 0.842, "chars74k": 0.9646, "mnist2000": 0.9715, "synth_heldout": 0.9795},
             {"seed": 1, "svhn_dev": 0.832, "chars74k": 0.9663, "mnist2000": 0.972, "synth_heldout": 0.9805}]
    out = compare_groups({"exam": RUNS[:3], "small": other}, baseline="exam")
    assert [r["seed"] for r in out["small"]["runs"]] == [1, 0]
    assert out["small"]["worst_minus_baseline"] == {"svhn_dev": 0.022, "chars74k": 0.0371, "mnist2000": 0.062,
                                                    "synth_heldout": 0.0165}  # 0.9795 - 0.963
    assert out["exam"]["worst_minus_baseline"] == {"svhn_dev": 0.0, "chars74k": 0.0, "mnist2000": 0.0,
                                                   "synth_heldout": 0.0}
    assert "worst_minus_baseline" not in compare_groups({"small": other})["small"]
