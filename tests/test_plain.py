"""dlexam.plain.dumps: the fast writer (orjson) gives the same JSON values as the standard library's json does
for plain(x), which is the oracle: every float read back bit for bit, NaN and infinities as null, non-ASCII text
escaped, and what orjson cannot write (tensors, paths, huge integers, non-string keys) still written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlexam.plain import dumps, plain


def oracle(x) -> str:
    return json.dumps(plain(x), allow_nan=False)


def normal(text: str):
    """The JSON's values, read back, with each float as its exact bits (so -0.0 and 0.0 differ)."""
    def walk(v):
        if isinstance(v, float):
            return ("float", v.hex())
        if isinstance(v, dict):
            return {k: walk(w) for k, w in v.items()}
        if isinstance(v, list):
            return [walk(w) for w in v]
        return v
    return walk(json.loads(text))


leaves = (st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-(2**80), max_value=2**80)
          | st.text(max_size=8) | st.booleans() | st.none())
trees = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                                        max_size=4), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_the_same_values_as_json_of_plain(x):
    text = dumps(x)
    assert text.isascii()
    assert normal(text) == normal(oracle(x))


def test_floats_read_back_exactly_and_nonfinite_is_null():
    xs = [0.1, 1e-5, 1e16, 1.7976931348623157e308, 5e-324, -0.0, 1 / 3, 4.2114, math.nan, math.inf, -math.inf]
    back = json.loads(dumps(xs))
    assert [v.hex() for v in back[:8]] == [v.hex() for v in xs[:8]]
    assert back[8:] == [None, None, None]


def test_what_orjson_cannot_write_is_still_written():
    x = {"t": torch.tensor([1.5, float("nan")]), "p": Path("/tmp/x"), "big": 2**70, 3: "int key", "s": "√ ü"}
    got = json.loads(dumps(x))
    assert got == {"t": [1.5, None], "p": "/tmp/x", "big": 2**70, "3": "int key", "s": "√ ü"}
    assert dumps({"s": "√"}) == '{"s":"\\u221a"}'  # escaped, as json writes it


def test_compact_json_is_spaced_alike_whichever_writer_wrote_it():
    """orjson writes no space after ',' and ':'; json, which writes what orjson would write otherwise (non-ASCII
    text, a path, a key that is no string), wrote ', ' and ': ', so one command's --json changed its spacing with
    a name in it (`sort train --json --out $'r\\xffx'`)."""
    assert dumps({"a": [1, 2], "b": "x"}) == '{"a":[1,2],"b":"x"}'  # orjson's
    assert dumps({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"\\u00e9"}'  # json's, non-ASCII text
    assert dumps({"a": [1, 2], "b": Path("x")}) == '{"a":[1,2],"b":"x"}'  # json's, through plain()
    assert dumps({"a": [1, 2]}, indent=1) == '{\n "a": [\n  1,\n  2\n ]\n}'  # indented: json's own, as asked


def test_options_go_to_json():
    assert dumps({"a": [1, 2]}, indent=1) == json.dumps({"a": [1, 2]}, indent=1)
    assert dumps({"s": "√"}, ensure_ascii=False) == '{"s": "√"}'


def test_a_file_name_that_is_not_utf8_is_json_every_parser_reads():
    """`svhn predict 'caf\\xe9.png' --json` wrote "caf\\udce9.png", a lone surrogate, which orjson (and jq, and a
    browser) refuse: the name's byte is written as `ls -b` shows it; a character outside the BMP stays a valid pair."""
    import orjson

    name = b"odd/caf\xe9.png".decode("utf-8", "surrogateescape")
    for x in ([{"image": name}], {"image": Path(name)}):
        for indent in (None, 1):
            assert orjson.loads(dumps(x, indent=indent)) in ([{"image": "odd/caf\\xe9.png"}],
                                                             {"image": "odd/caf\\xe9.png"})
    assert orjson.loads(dumps({"s": "caf\u00e9 \U0001F600"})) == {"s": "caf\u00e9 \U0001F600"}
    assert orjson.loads(dumps({"s": "a\ud800b"})) == {"s": "a\\ud800b"}  # a surrogate that stands for no byte
