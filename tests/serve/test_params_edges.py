"""Request fields at their edges, in-process (dlexam.serve.params, dlexam.geoff.cells): each one a BadRequest naming
its field, never another exception (which the server answers with a 500). Found by the hostile-client audit of
2026-12-06: '²' passes str.isdigit() but not int(); a 400-digit JSON integer overflows float(); and a JSON number
too small for float64 (1e-400) was read as 0 without a word (a weight of 1e-400 answered as a weight of 0)."""

from __future__ import annotations

import json
import math

import pytest

from dlexam.serve import params as p

WEIGHTS = b'{"weights": {"W_V": [[%s, 3], [1, 2], [2, 1], [3, 0]]}}'


@pytest.mark.parametrize("text", ["\u00b2", "\u00b9", "\u0662", "1\u00b2"])
def test_a_digit_that_is_not_ascii_is_refused_naming_the_field(text):
    with pytest.raises(p.BadRequest) as e:
        p.whole("heads", text, (1, 2))
    assert e.value.field == "heads" and e.value.status == 400
    with pytest.raises(p.BadRequest) as e:
        p.seed("seed", text)
    assert e.value.field == "seed"


@pytest.mark.parametrize("value", [10**400, -(10**400)], ids=["1e400", "-1e400"])
def test_an_integer_too_large_for_a_float_is_refused_naming_the_field(value):
    with pytest.raises(p.BadRequest) as e:
        p.number("lr", value, 0, 100)
    assert e.value.field == "lr"
    with pytest.raises(p.BadRequest) as e:
        p.temperature("temperature", value)
    assert e.value.field == "temperature"
    body = p.json_body(b'{"lr": ' + str(value).encode() + b"}")  # as a JSON body carries it
    with pytest.raises(p.BadRequest):
        p.number("lr", body["lr"], 0, 100)


@pytest.mark.parametrize(("raw", "field", "says"), [
    (b'{"lr": 1e-400}', "lr", "lr: 1e-400 is too small"),
    (b'{"temperature": 0.0001e-330}', "temperature", "temperature: 0.0001e-330 is too small"),
    (b'{"lr": 1e400}', "lr", "lr: 1e400 is too large for a float64 number"),  # was read as infinity: "got inf"
    (b'{"seed": 1, "answers": {"Pr2.2.P": [[1e-400]]}}', "answers", "answers: 1e-400 is too small"),
])
def test_a_number_float64_would_read_as_0_is_refused_naming_its_field(raw, field, says):
    with pytest.raises(p.BadRequest) as e:
        p.json_body(raw)
    assert e.value.field == field and e.value.status == 400
    assert e.value.message.startswith(says), e.value.message


ZEROS = b"[[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]]"  # a head's 5x2 matrix of the variant below


@pytest.mark.parametrize(("raw", "field", "says"), [
    (WEIGHTS % b"1e-400", "weights.W_V", "W_V, row A, column d1: 1e-400 is too small"),
    (WEIGHTS % b"-2.5E-999", "weights.W_V", "W_V, row A, column d1: -2.5E-999 is too small"),
    (b'{"heads": 2, "variant": 0, "difficulty": "harder", "weights": {"multi_heads": [{"W_Q": %s, "W_K": %s, '
     b'"W_V": %s}, {"W_Q": %s, "W_K": [[0, 0], [0, 0], [0, 0], [0, 0], [0, 1e999]], "W_V": %s}]}}' % ((ZEROS,) * 5),
     "weights.multi_heads[1].W_K", "W_K of head 2, row E, column d2: 1e999 is too large"),
])
def test_a_weight_float64_cannot_hold_is_refused_naming_its_cell_as_the_page_does(raw, field, says):
    """A weight's cell is named as /geoff heads it and names it (dlexam.geoff.weights.cell_words: W_V's rows are
    Version A's model dimensions A..D, a head's columns d1, d2; the variant's fifth dimension is named E, its symbol
    whose embedding is that unit vector, as /api/geoff/defaults labels it); it read "W_V row 1, column 1" until
    2026-12-07."""
    from dlexam.serve.geoff_params import geoff_query

    with pytest.raises(p.BadRequest) as e:
        geoff_query(p.json_body(raw))
    assert (e.value.field, e.value.status) == (field, 400)
    assert e.value.message.startswith(says), e.value.message


def test_zero_and_the_smallest_float64_are_still_numbers():
    """0 written in any way (0e-400, -0.0) is 0, and 5e-324, the smallest float64, is itself: none is refused."""
    body = p.json_body(b'{"a": 0e-400, "b": -0.0, "c": 5e-324, "d": 0.000e5, "e": [1e-300]}')
    assert body == {"a": 0.0, "b": -0.0, "c": 5e-324, "d": 0.0, "e": [1e-300]}
    assert type(body["a"]) is float and type(body["c"]) is float


def test_a_cell_index_written_in_other_digits_is_refused_as_the_cell():
    """`P[²,0]`: the library's cell parser said isdigit() and then int() raised ValueError (a 500 on
    /api/geoff/explain); now it is the cell's own error."""
    from dlexam import geoff
    from dlexam.errors import UserError
    from dlexam.geoff.explain import Explainer

    ex = Explainer(geoff.GeoffQuery(sequence="D A A <START> A D <STOP>", temperature=0.0))
    with pytest.raises(UserError, match="not an index"):
        ex.explain("P[\u00b2,0]")


def test_svhn_at_in_other_digits_is_a_user_error():
    from dlexam.errors import UserError
    from dlexam.svhn.explain import parse_at

    with pytest.raises(UserError):
        parse_at("0,\u00b2,1")


def test_minus_zero_is_the_temperature_zero():
    """-0 is argmax, and is said as T = 0: the explanation of a gradient norm at T = -0 said "at T = -0 (argmax)"
    (found by fuzzing, 2026-12-06; attention.parse_temperature kept the sign)."""
    from dlexam import geoff
    from dlexam.geoff.explain import Explainer

    for value in (-0.0, "-0", "-0.0", "-0e5"):
        t = p.temperature("temperature", value)
        assert t == 0 and math.copysign(1.0, t) == 1.0, (value, t)
    query = geoff.GeoffQuery(sequence="D A A <START> A D <STOP>", temperature=p.temperature("temperature", -0.0),
                             gradients=True)
    text = json.dumps(Explainer(query).explain("norm[W_Q]").to_json())
    assert "T = 0 (argmax)" in text and "T = -0" not in text
    assert repr(geoff.analyse(query).to_json()["temperature"]) == "0.0"


@pytest.mark.parametrize(("call", "typed", "says"), [
    (lambda t: p.number("lr", t, 0, 100), "1e-400", "1e-400 is too small for a float64 number"),
    (lambda t: p.number("lr", t, 0, 100), "-2.5E-999", "-2.5E-999 is too small for a float64 number"),
    (lambda t: p.number("lr", t, 0, 100), "1e400", "1e400 is too large for a float64 number"),
    (lambda t: p.temperature("T", t), "1e-400", "1e-400 is too small for a float64 number"),
    (lambda t: p.temperature("T", t), "1e400", "1e400"),
], ids=["lr-1e-400", "lr--2.5E-999", "lr-1e400", "T-1e-400", "T-1e400"])
def test_a_typed_number_float64_cannot_hold_is_refused_naming_what_was_typed(call, typed, says):
    """The page sends its lr and T fields as the text typed (a query string does too): "1e-400" was refused as
    "got 0.0", a number nobody typed (and a T of 1e-400 was answered as T = 0), "1e400" as "got inf"."""
    with pytest.raises(p.BadRequest) as e:
        call(typed)
    assert e.value.status == 400 and says in e.value.message, e.value.message
    assert "0.0" not in e.value.message and "inf" not in e.value.message.replace("infinity", "")


READ = {"T": lambda t: p.temperature("T", t), "lr": lambda t: p.number("lr", t, 0, 100)}
WHY = {"1_0": "'_' is no part of a number: write 10",  # not "or 1/0 for a fraction", which it said too
       "2_16": "'_' is no part of a number: write 216, or 2/16 for a fraction",
       "\u0662": "'\u0662' is ARABIC-INDIC DIGIT TWO: write numbers with the digits 0-9",
       "\uff12": "'\uff12' is FULLWIDTH DIGIT TWO: write numbers with the digits 0-9",
       "1_000": "'_' is no part of a number: write 1000",
       "1_0.5": "'_' is no part of a number: write the digits without it (1000, not 1_000)"}


@pytest.mark.parametrize("name", ["T", "lr"])
@pytest.mark.parametrize("typed", list(WHY))
def test_T_and_lr_are_read_by_the_rule_of_the_weight_cells(name, typed):
    """/geoff's T and lr (and /sort's temperature, which p.temperature reads too) went by float()'s rules: '1_0' was
    T = 10 and '\u0662' T = 2, where a weight cell refuses both. Now all are read by dlexam's one reader of typed
    numbers (variants.typed.read_text): refused saying why, as the cell's refusal of the same text says it. The
    oracle: the words typed by hand here, and the weight cell's own refusal."""
    from dlexam.serve import geoff_params

    with pytest.raises(p.BadRequest) as e:
        READ[name](typed)
    assert e.value.field == name and e.value.message.endswith(f"got {typed!r} ({WHY[typed]})"), e.value.message
    with pytest.raises(p.BadRequest) as cell:
        geoff_params.typed_weight("W_V", "W_V, row A, column d1", typed)
    assert f"({WHY[typed]})" in cell.value.message, cell.value.message


@pytest.mark.parametrize(("name", "typed", "read"), [("T", "1/2", 0.5), ("T", " 3 / 4 ", 0.75), ("lr", "1/10", 0.1),
                                                     ("T", "\u22120.5", None), ("lr", "\u22121", None)])
def test_T_and_lr_take_what_a_weight_cell_takes(name, typed, read):
    """A fraction, as a weight cell takes "1/3", is the double nearest it (float(Fraction(1, 10)) is 0.1); a minus
    sign copied from typeset text (U+2212) is a minus, so T = -0.5 and lr = -1 are refused by their range, quoting
    them as typed."""
    if read is not None:
        assert READ[name](typed) == read
        return
    with pytest.raises(p.BadRequest) as e:
        READ[name](typed)
    said = {"T": typed.strip(), "lr": repr(typed.strip())}[name]  # lr quotes what was typed, T a number as such
    assert e.value.message.endswith(f"got {said}"), e.value.message


@pytest.mark.parametrize("typed", ["0", "-1", "abc"])
def test_a_refused_lr_is_quoted_as_typed(typed):
    with pytest.raises(p.BadRequest) as e:
        p.number("lr", typed, 0, 100)
    assert e.value.message.endswith(f"got {typed!r}"), e.value.message


@pytest.mark.parametrize(("call", "typed", "point"), [
    (lambda t: p.temperature("T", t), "0,5", "0.5"),
    (lambda t: p.temperature("T", t), " 1,25 ", "1.25"),
    (lambda t: p.number("lr", t, 0, 100), "0,1", "0.1"),
    (lambda t: p.number("lr", t, 0, 100), "-0,5", "-0.5"),
], ids=["T-0,5", "T-1,25", "lr-0,1", "lr--0,5"])
def test_a_decimal_comma_in_T_or_lr_is_refused_saying_to_write_a_point(call, typed, point):
    """/geoff's T and lr, and /sort's temperature, typed with a decimal comma: the refusal says what to write, as a
    weight cell and /practice's grader say it. It said only "must be ..., got '0,5'" (2026-12-07)."""
    with pytest.raises(p.BadRequest) as e:
        call(typed)
    assert e.value.message.endswith(f"got {typed.strip()!r} (a decimal comma: write {point}, with a decimal point)"), \
        e.value.message


def test_a_decimal_comma_in_the_temperature_flag_says_to_write_a_point():
    from dlexam.bounds import QUERY_TEMPERATURES
    from dlexam.errors import UserError

    with pytest.raises(UserError) as e:
        QUERY_TEMPERATURES.read("temperature", "0,5")
    assert str(e.value).endswith("got '0,5' (a decimal comma: write 0.5, with a decimal point)"), str(e.value)
    with pytest.raises(UserError) as e:  # not a number with a comma: nothing to say about commas
        QUERY_TEMPERATURES.read("temperature", "a,b")
    assert "comma" not in str(e.value)


@pytest.mark.parametrize(("body", "field", "says"), [
    ({"matrices": ["W_V", "W_V"]}, "matrices", "lists W_V twice"),  # was taken as ["W_V"] without a word
    ({"matrices": ["W_V"] * 7}, "matrices", "lists W_V twice"),  # was "must list some of ..." (too many names)
    ({"matrices": "W_Q, W_Q"}, "matrices", "lists W_Q twice"),
    ({"matrices": ["W_O", "multi_W_O"]}, "matrices", "W_O and multi_W_O name one matrix"),  # one of them was dropped
    ({"gradient_of": ["multi_W_O", "W_O"], "heads": 2}, "gradient_of", "multi_W_O and W_O name one matrix"),
    ({"gradient_of": ["W_V", " W_V "]}, "gradient_of", "lists W_V twice"),
    ({"matrices": ["W_X"]}, "matrices", "unknown matrix 'W_X'"),
    ({"matrices": ["w_v"]}, "matrices", "did you mean 'W_V'?"),
    ({"matrices": [3]}, "matrices", "3 is no matrix name"),
    # an empty name: in a list it was "unknown matrix ''", in text ("E,,W_Q") skipped without a word
    ({"matrices": ["E", "", "W_Q"]}, "matrices", "matrices has an empty item (two commas together, or a comma at an "
                                                 "end): list some of E, W_Q, W_K, W_V, W_O"),
    ({"gradient_of": "W_Q,,W_K"}, "gradient_of", "gradient_of has an empty item"),
    ({"matrices": [["W_V"]]}, "matrices", "['W_V'] is no matrix name"),
    ({"weights": {"multi_W_O": [[1, 2], [3, 4]]}}, "weights.multi_W_O", "4x4 list of rows of numbers, got 2 rows"),
    ({"weights": {"multi_W_O": [[1, 0, 0, 0]] * 3 + [[1, 0]]}}, "weights.multi_W_O", "got row 4 with 2 entries"),
    # in JSON's words, as the server's other refusals say a value ("image must be text, got a string"): they said
    # "as text" and "got text" (2026-12-07)
    ({"weights": {"multi_W_O": [[1, 0, 0, 0]] * 3 + ["1,0,0,0"]}}, "weights.multi_W_O", "got row 4 as a string"),
    ({"weights": {"multi_W_O": "I"}}, "weights.multi_W_O", "got a string"),
    ({"weights": {"multi_W_O": 3}}, "weights.multi_W_O", "got the number 3"),
    ({"weights": {"multi_W_O": {"rows": [[1]]}}}, "weights.multi_W_O", "got an object"),
    ({"weights": {"multi_W_O": None}}, "weights.multi_W_O", "got null"),
])
def test_odd_matrices_and_multi_W_O_are_one_400_naming_the_field(body, field, says):
    """/api/geoff/step's `matrices`, /api/geoff's `gradient_of` and an edited `multi_W_O` (in-process: the functions
    POST /api/geoff/step parses its body with): a name twice, two names of one matrix, a wrong shape, each is one
    BadRequest naming the field and saying what it got."""
    from dlexam.serve import geoff_params

    with pytest.raises(p.BadRequest) as e:
        geoff_params.geoff_query(body)
        geoff_params.step_settings(body)
    assert e.value.field == field and e.value.status == 400, (e.value.field, e.value.message)
    assert says in e.value.message, e.value.message


def test_well_formed_matrices_are_read_as_before():
    """What the page sends (every name once; "E too" adds E) and the output matrix by either of its names."""
    from dlexam.serve import geoff_params

    assert geoff_params.step_settings({}).matrices == ("W_Q", "W_K", "W_V", "W_O")
    assert geoff_params.step_settings({"matrices": ["W_O", "E", "W_V"]}).matrices == ("E", "W_V", "W_O")
    assert geoff_params.step_settings({"matrices": "W_V, multi_W_O"}).matrices == ("W_V", "multi_W_O")
    assert geoff_params.geoff_query({"gradient_of": ["multi_W_O"], "heads": 2}).gradient_of == ("multi_W_O",)


def test_the_temperature_is_checked_for_a_number_float64_cannot_hold_once(monkeypatch, capsys):
    """One check (attention.parse_temperature, through limits.float_text) serves /api/geoff's T and `dlexam geoff
    --temperature`, each in its own words. Before (2026-12-07) the API asked limits.unheld twice for one T: its own
    params.typed first, then parse_temperature's float_text, two places with the same rule."""
    from dlexam import limits
    from dlexam.cli import main

    asked = []
    unheld = limits.unheld
    monkeypatch.setattr(limits, "unheld", lambda text: asked.append(text) or unheld(text))
    assert p.temperature("T", "0.5") == 0.5
    assert asked == ["0.5"]  # was ["0.5", "0.5"]
    asked.clear()
    with pytest.raises(p.BadRequest) as e:
        p.temperature("T", "1e-400")
    assert asked == ["1e-400"]
    assert e.value.field == "T" and e.value.message == ("T: 1e-400 is too small for a float64 number, which reads it "
                                                        "as 0 (the smallest size it holds is 5e-324)")
    asked.clear()
    assert main(["geoff", "--temperature", "1e-400"]) == 2
    assert asked == ["1e-400"]
    assert "argument --temperature: 1e-400 is too small for a float64 number" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "says"), [
    (None, "image is missing: give it as text"),  # /api/svhn/explain without an image said "got NoneType"
    (7, "image must be text, got the number 7"),
    (True, "image must be text, got true"),
    ({"a": 1}, "image must be text, got an object"),
    ([1, 2], "image must be text, got a list"),
])
def test_a_text_field_of_another_kind_is_named_in_jsons_words(value, says):
    with pytest.raises(p.BadRequest) as e:
        p.text("image", value)
    assert e.value.field == "image" and str(e.value) == says, str(e.value)
