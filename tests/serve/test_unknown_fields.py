"""A field an endpoint does not take is refused, never dropped: before, a misspelt "temprature" was ignored and the
answer given at the default temperature, as if the request had been understood. Every JSON endpoint, in its body
and in its query string: a 400 whose "field" is the unknown name and whose message names it."""

from __future__ import annotations

import pytest

EXAMPLE = "D A A <START> A D <STOP>"
IMAGE = "A" * 1366  # 1,024 grey levels in base64url


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/api/geoff", {"sequence": EXAMPLE, "temprature": 0.5}, "temprature"),
    ("POST", "/api/geoff", {"sequence": EXAMPLE, "cell": "P[3,0]"}, "cell"),  # /api/geoff/explain's, not this one's
    ("POST", "/api/geoff/step", {"sequence": EXAMPLE, "learning_rate": 0.5}, "learning_rate"),
    ("POST", "/api/geoff/explain", {"sequence": EXAMPLE, "cell": "P[3,0]", "head": 2}, "head"),
    ("POST", "/api/svhn/explain", {"image": IMAGE, "layer": "conv1", "at": [0, 0, 0], "channel": 1}, "channel"),
    ("POST", "/api/practice/check", {"seed": 1, "answers": {"P1.1.choice": 1}, "difficutly": "harder"},
     "difficutly"),
    ("GET", "/api/geoff?seq=D+A+A&temprature=0.5", None, "temprature"),
    ("GET", "/api/geoff/explain?cell=P%5B3,0%5D&cel=x", None, "cel"),
    ("GET", "/api/geoff/defaults?varient=3", None, "varient"),
    ("GET", "/api/sort?seq=D+A+A&temp=2", None, "temp"),
    ("GET", "/api/svhn/model/explain?number=total&layer=fc", None, "layer"),
    ("GET", "/api/practice?seed=1&dificulty=harder", None, "dificulty"),
    ("GET", "/api/sort/models?x=1", None, "x"),
    ("GET", "/api/svhn/example?set=svhn_dev&digit=3&file=a.png", None, "file"),
    ("GET", "/api/svhn/examples?set=svhn_dev", None, "set"),
    ("POST", "/api/geoff/step?lr=0.5", {"sequence": EXAMPLE}, "lr"),  # the step reads its lr from the body only
])
def test_an_unknown_field_is_refused_naming_it(server, method, path, body, field):
    status, _, d = server.request(method, path, body)
    assert status == 400, (path, body, status, d)
    assert d["field"] == field and f"unknown field {field!r}" in d["error"] and "\n" not in d["error"], d


def test_a_misspelt_field_is_told_its_spelling(server):
    status, _, d = server.post("/api/geoff", {"sequence": EXAMPLE, "temprature": 0.5})
    assert status == 400 and "did you mean 'temperature'?" in d["error"], d
    status, _, d = server.post("/api/geoff", {"sequence": EXAMPLE, "exact": True})
    assert status == 400 and d["field"] == "exact" and "?exact=1" in d["error"], d


def test_one_field_given_twice_by_its_two_names_is_refused(server):
    """seq and sequence, temperature and T: one of them was dropped without a word."""
    status, _, d = server.post("/api/geoff", {"sequence": EXAMPLE, "temperature": 0.5, "T": 0})
    assert status == 400 and d["field"] == "T", d
    status, _, d = server.get("/api/geoff?seq=D+A+A&sequence=A+B")
    assert status == 400 and d["field"] == "sequence", d


def test_every_field_the_docs_name_is_still_taken(server):
    full = {"temperature": 0.5, "heads": 1, "loss": True, "gradients": True, "convention": "exam", "weights": {},
            "gradient_of": ["W_Q"], "variant": 1, "difficulty": "standard"}  # the variant's own example
    for method, path, body in [("POST", "/api/geoff?exact=1", full),
                               ("POST", "/api/geoff/step", {**full, "lr": 0.5, "matrices": ["W_V"]}),
                               ("POST", "/api/geoff/explain", {**full, "lr": 0.5, "matrices": ["W_V"],
                                                               "cell": "change[W_V]"}),
                               ("GET", "/api/geoff?seq=D+A+%3CSTART%3E+A&T=0&grad=1&exact=1", None),
                               ("GET", "/api/geoff/defaults?variant=1&difficulty=harder", None),
                               ("GET", "/api/sort?seq=D+A+A&vocab=A-D&model=compiled&temperature=0", None),
                               ("GET", "/api/practice?seed=1&difficulty=harder", None)]:
        status, _, d = server.request(method, path, body)
        assert status == 200, (path, d)
