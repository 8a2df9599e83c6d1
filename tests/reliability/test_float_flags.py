"""Every number flag of the command line reads its text with limits.float_text (commands/options.float_number): a
number float64 cannot hold is refused naming it as typed, and a range check quotes the number as typed.

Before (2026-12-07), only `geoff --lr` did: `sort train --lr 1e-400` was refused as "got 0.0" (a number nobody
typed), `sort train --label-smoothing 1e-400` and `svhn train --val-fraction 1e-400` ran with 0 without a word, and
`geoff --lr 0` said "got 0.0"."""

from __future__ import annotations

import re

import pytest

from .helpers import refused_here

SORT_TRAIN = ["sort", "train", "--vocab", "A-C", "--max-len", "3", "--quick", "--quiet", "--json"]
FLAGS = [  # (command, flag): every float flag of dlexam (test_every_float_flag_is_read_by_float_number checks it)
    ("sort train", "--lr"), ("sort train", "--label-smoothing"), ("svhn train", "--lr"),
    ("svhn train", "--val-fraction"), ("serve", "--header-timeout"), ("serve", "--idle-timeout"),
    ("serve", "--job-timeout"), ("geoff", "--lr"), ("sort train", "--hard-fraction"),
    ("sort train", "--hard-temperature"),
]


def ends_quoting(line: str, text: str) -> bool:
    """Whether the refusal ends with the number as typed: "... got 0", or, refused as the flag is read (before the
    command imports torch), "... got 0 (see dlexam sort train --help)"."""
    return re.search(rf"got {re.escape(text)}( \(see dlexam [a-z ]+ --help\))?$", line) is not None


def _argv(command: str, tmp_path, synth_dir) -> list[str]:
    out = str(tmp_path / "out")
    return {
        "sort train": [*SORT_TRAIN, "--out", out],
        "svhn train": ["svhn", "train", "--data", str(synth_dir), "--out", out, "--quick", "--quiet"],
        "serve": ["serve", "--port", "0", "--workers", "0"],
        "geoff": ["geoff", "--explain", "change[W_V]"],
    }[command]


@pytest.mark.parametrize("text, words", [("1e-400", "is too small for a float64 number"),
                                         ("-1e400", "is too large for a float64 number")])
@pytest.mark.parametrize("command, flag", FLAGS)
def test_a_number_float64_cannot_hold_is_refused_as_typed(tmp_path, synth_dir, capsys, command, flag, text, words):
    line = refused_here([*_argv(command, tmp_path, synth_dir), f"{flag}={text}"], capsys, f"{flag}: {text} {words}")
    assert "got" not in line  # never "got 0.0" or "got -inf"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command, flag, text", [
    ("sort train", "--lr", "0"), ("sort train", "--label-smoothing", "1e0"), ("svhn train", "--lr", "0"),
    ("svhn train", "--val-fraction", "1"), ("serve", "--header-timeout", "0"), ("serve", "--idle-timeout", "1e4"),
    ("serve", "--job-timeout", "0"), ("geoff", "--lr", "0"), ("geoff", "--lr", "1e3"),
    ("sort train", "--hard-fraction", "1.5"), ("sort train", "--hard-temperature", "0"),
])
def test_a_range_check_quotes_the_number_as_typed(tmp_path, synth_dir, capsys, command, flag, text):
    """`geoff --lr 0` said "got 0.0", `svhn train --val-fraction 1` "got 1.0", `serve --idle-timeout 1e4`
    "got 10000.0": numbers nobody typed."""
    line = refused_here([*_argv(command, tmp_path, synth_dir), flag, text], capsys, f"{flag} must be")
    assert ends_quoting(line, text), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "+Infinity"])
@pytest.mark.parametrize("command, flag", FLAGS)
def test_nan_and_infinity_are_refused_in_one_line(tmp_path, synth_dir, capsys, command, flag, text):
    line = refused_here([*_argv(command, tmp_path, synth_dir), f"{flag}={text}"], capsys, f"{flag} must be")
    assert ends_quoting(line, text), line
    assert not (tmp_path / "out").exists()


def test_every_float_flag_is_read_by_float_number():
    """A census of the parsers: no flag reads its number with plain float() (which takes 1e-400 as 0), and FLAGS
    above lists every float flag."""
    from dlexam.cli import build_parser
    from dlexam.commands import sort_options
    from dlexam.commands.options import float_number

    def actions(parser, prefix):
        for a in parser._actions:
            if a.choices and isinstance(a.choices, dict):
                for name, sub in a.choices.items():
                    yield from actions(sub, f"{prefix} {name}".strip())
            else:
                yield prefix, a

    found = list(actions(build_parser(), ""))
    for action_name, add in (("sort train", sort_options.train_options),
                             ("sort evaluate", sort_options.evaluate_options)):
        p = build_parser()  # a throwaway parser of the Parser class, as sort's _dispatch makes
        sub = type(p)(prog=f"dlexam {action_name}")
        add(sub)
        found += [(action_name, a) for a in sub._actions]
    assert not [(c, a.dest) for c, a in found if a.type is float]
    numbers = {(c, max(a.option_strings, key=len)) for c, a in found  # float_number, or a range read by it
               if getattr(a.type, "reads", a.type) is float_number}
    assert numbers == set(FLAGS)


# ---- every number flag states its range in --help, in the words its refusal uses ---------------------------------
# One wording of a range (dlexam.limits.Span.words): "a whole number in [1, 65536]", "a number in (0, 10]" (an end in
# round brackets is open). The census below reads each flag's range from its --help text and checks that the
# command refuses a number just outside each end with exactly those words.
RANGE = re.compile(r"(a whole number|a number) in ([\[(])(-?[0-9.e+-]+|inf), (-?[0-9.e+-]+|inf)([\])])")
# A temperature option's values (query temperatures: 0, a number above 0, or 'sqrt'; sort train's: no 0): its help and
# its refusal say "0, a number in (0, inf), or 'sqrt'" or "a number in (0, 1000000], or 'sqrt'", all of it.
TEMPERATURES = re.compile(r"(0, )?" + RANGE.pattern + ", or 'sqrt'")
NOT_RANGES = {  # number flags whose values are no range, with what their help says instead
    ("geoff", "--heads"): "1 or the model's head count",
}


def _number_actions():
    """(command, flag, action) for every option of every parser of dlexam whose value is a number: its type int,
    float_number or a reader built by options.whole_number."""
    import argparse

    from dlexam.cli import build_parser
    from dlexam.commands import sort_options
    from dlexam.commands.options import float_number

    def actions(parser, prefix):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    yield from actions(sub, f"{prefix} {name}".strip())
            elif a.option_strings:
                yield prefix, a

    found = list(actions(build_parser(), ""))
    for action_name, add in (("sort train", sort_options.train_options),
                             ("sort evaluate", sort_options.evaluate_options)):
        sub = type(build_parser())(prog=f"dlexam {action_name}")
        add(sub)
        found += [(action_name, a) for a in sub._actions if a.option_strings]
    numbers = []
    for command, a in found:
        if a.type is int or a.type is float_number or getattr(a.type, "span", None) is not None \
                or "temperature" in a.dest:  # the temperature options take 'sqrt' too
            numbers.append((command, max(a.option_strings, key=len), a))
    return numbers


def _outside(help_range: re.Match) -> list[str]:
    """Numbers typed just outside each end of the range the help states (for a temperature, whose help says "0, a
    number in (0, ...], or 'sqrt'", also the tiniest negative number where 0 is one, and text that is no
    temperature)."""
    if help_range.re is TEMPERATURES:
        zero, *rest = help_range.groups()
        below, above = _outside(RANGE.fullmatch(help_range[0].removeprefix(zero or "").removesuffix(", or 'sqrt'")))
        return ["-1e-300" if zero else below, above, "sqrt2", "abc"]
    kind, lo_bracket, lo, hi, hi_bracket = help_range.groups()
    if kind == "a whole number":
        return [str(int(lo) - 1), str(int(hi) + 1)]
    return [lo if lo_bracket == "(" else repr(float(lo) - 1), hi if hi_bracket == ")" else repr(float(hi) * 2 + 1)]


RANGE_ARGV = {  # a command line each number flag of the command is tried on (the flag and its value follow)
    "sort": ["sort"],
    "sort train": [*SORT_TRAIN, "--out", "{out}"],
    "sort evaluate": ["sort", "evaluate"],
    "geoff": ["geoff", "--explain", "change[W_V]"],
    "svhn summary": ["svhn", "summary"],
    "svhn synth": ["svhn", "synth", "--out", "{out}"],
    "svhn mnist": ["svhn", "mnist", "--out", "{out}"],
    "svhn train": ["svhn", "train", "--data", "{data}", "--out", "{out}", "--quick", "--quiet"],
    "answers": ["answers", "--json"],
    "grade": ["grade", "{out}"],
    "serve": ["serve", "--workers", "0"],
    "variant": ["variant"],
}
FLAG_ARGV = {  # a flag that goes with another one
    ("svhn synth", "--images"): ["--scenes"],
    ("svhn summary", "--variant"): ["--explain", "conv1"],
}


def test_every_number_flag_states_its_range_in_its_help():
    """Before (2026-12-07): `sort train --lr`'s help stated no range, nor did --steps, --batch-size, --heads, ...;
    others said it in words of their own ("above 0, at most 10", "0 to below 1", "0 < lr <= 100", ">= 0")."""
    numbers = _number_actions()
    assert len(numbers) > 30
    lacking = [(c, f, a.help) for c, f, a in numbers if (c, f) not in NOT_RANGES and not RANGE.search(a.help or "")]
    assert not lacking, lacking
    for (c, f), words in NOT_RANGES.items():
        assert any(c == c2 and f == f2 and words in a.help for c2, f2, a in numbers), (c, f)


@pytest.mark.parametrize("command, flag", [(c, f) for c, f, _ in _number_actions() if (c, f) not in NOT_RANGES])
def test_a_number_outside_the_range_its_help_states_is_refused_in_the_help_s_words(tmp_path, synth_dir, capsys,
                                                                                    command, flag):
    help_text = next(a.help for c, f, a in _number_actions() if (c, f) == (command, flag))
    stated = (TEMPERATURES if "temperature" in flag and "'sqrt'" in help_text else RANGE).search(help_text)
    assert stated, help_text
    base = [w.format(out=str(tmp_path / "out"), data=str(synth_dir)) for w in RANGE_ARGV[command]]
    for text in _outside(stated):
        argv = [*base, *FLAG_ARGV.get((command, flag), []), f"{flag}={text}"]
        line = refused_here(argv, capsys)
        got = f", got {text}" in line or f", got {text!r}" in line  # text that is no number is quoted
        assert flag in line and f"must be {stated[0]}" in line and got, (argv, line)
        assert not (tmp_path / "out").exists()


TEMPERATURE_FLAGS = [("geoff", "--temperature"), ("sort", "--temperature"), ("sort evaluate", "--temperature"),
                     ("sort train", "--temperature-start"), ("sort train", "--temperature-end")]


def test_every_temperature_option_states_its_values_in_its_help():
    """Before (2026-12-07) the query temperatures' help said "a number T > 0" and their refusal "a finite number >= 0
    or 'sqrt'" (two wordings of one rule, no upper end stated); sort train's said "(0, 1000000], or 'sqrt'", and
    `--temperature-end abc` was refused with the query temperatures' ">= 0" (0 is not one of its values)."""
    found = {(c, f): a.help for c, f, a in _number_actions() if "temperature" in f and "hard" not in f}
    assert set(found) == set(TEMPERATURE_FLAGS)
    stated = {k: TEMPERATURES.search(h or "") for k, h in found.items()}
    assert all(stated.values()), found
    queries = {stated[k][0] for k in TEMPERATURE_FLAGS[:3]}  # one upper end for every query temperature
    assert queries == {"0, a number in (0, inf), or 'sqrt'"}, queries
    assert {stated[k][0] for k in TEMPERATURE_FLAGS[3:]} == {"a number in (0, 1000000], or 'sqrt'"}


def test_the_temperatures_the_help_states_are_taken():
    """The other side of the census: what the help states is taken. A query temperature's flag reads 0 (and -0) as
    argmax, any finite number above 0 up to float64's largest, and 'sqrt'; sort train's schedule takes its top,
    10^6, and 'sqrt', where 0 is refused (hand-typed values, not the bounds' own)."""
    from dlexam.errors import UserError
    from dlexam.sorting.config import TrainConfig

    for command, flag, a in _number_actions():
        if (command, flag) in TEMPERATURE_FLAGS[:3]:
            read = a.type
            assert [read(t) for t in ("0", "-0", " sqrt ", "5e-324", "1e300", "1.7976931348623157e308")] == \
                [0.0, 0.0, "sqrt", 5e-324, 1e300, 1.7976931348623157e308], (command, flag)
            assert str(read("-0")) == "0.0"  # never "T = -0"
    for name in ("temperature_start", "temperature_end"):
        for value in (1e6, "sqrt", 5e-324):
            TrainConfig(vocab="A-C", max_len=3, **{name: value}).validate()
        for value in (0, 0.0, 1000000.0000000001, "abc"):
            with pytest.raises(UserError, match=rf"^{name} must be a number in \(0, 1000000\], or 'sqrt', got "):
                TrainConfig(vocab="A-C", max_len=3, **{name: value}).validate()


@pytest.mark.parametrize("command, flag, text", [("sort train", "--lr", "-inf"), ("geoff", "--lr", "-Infinity"),
                                                 ("svhn train", "--val-fraction", "-nan")])
def test_a_negative_infinity_or_nan_after_a_space_is_the_flags_value(tmp_path, synth_dir, capsys, command, flag, text):
    """`--lr -inf` was "argument --lr: expected one argument": argparse took -inf for an option, as it takes any
    word that starts with '-' and no digit; the range check now answers it as it answers `--lr=-inf`."""
    line = refused_here([*_argv(command, tmp_path, synth_dir), flag, text], capsys, f"{flag} must be")
    assert ends_quoting(line, text), line


def test_a_negative_infinity_after_a_space_is_the_temperatures_value(capsys):
    line = refused_here(["geoff", "--temperature", "-inf"], capsys, "--temperature", "must be")
    assert line.endswith("got -inf (see dlexam geoff --help)"), line


@pytest.mark.parametrize("text", ["1_0", "\u0662", "\uff12", "1\u00b2"])
@pytest.mark.parametrize("command, flag", [*FLAGS, ("geoff", "--temperature")])
def test_a_number_in_other_digits_or_with_an_underscore_is_refused(tmp_path, synth_dir, capsys, command, flag, text):
    """float() reads '1_0' as 10 and an Arabic-Indic '\u0662' or a full-width '\uff12' as 2: `geoff --temperature
    1_0` ran at T = 10 and `geoff --lr \u0662` at lr 2 (until 2026-12-07), where /geoff's weight cells, its T and lr
    fields and `sort --lengths` refuse them. Every number flag now reads ASCII digits alone."""
    line = refused_here([*_argv(command, tmp_path, synth_dir), f"{flag}={text}"], capsys, flag)
    assert text in line, line
    assert not (tmp_path / "out").exists()
