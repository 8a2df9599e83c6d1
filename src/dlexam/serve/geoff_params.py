"""Geoff's requests read into the library's values: a GeoffQuery, its edited weights, a gradient step's settings.

The fields of /api/geoff, of its step and of its explanation (:data:`GEOFF_FIELDS`, in a query string or a JSON
body) become :class:`dlexam.geoff.GeoffQuery` (:func:`geoff_query`) on the weights of Version A or of a variant
(:func:`model_of`, which /api/geoff/defaults answers with too), with any matrix edited (:func:`weights`: numbers,
or numbers typed as text, :func:`typed_weight`); a step's ``lr`` and ``matrices`` (:data:`STEP_FIELDS`) become
:class:`dlexam.geoff.step.StepSettings` (:func:`step_settings`). Every refusal is a
:class:`dlexam.serve.params.BadRequest` naming the field, as :mod:`dlexam.serve.params` reads a single one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dlexam.errors import UserError
from dlexam.serve import params as p
from dlexam.serve.params import BadRequest, has_variant, variant_of

# The fields of a Geoff query (geoff_query; a second name is the same field's other spelling), and of a step
GEOFF_FIELDS = ("sequence", "seq", "temperature", "T", "heads", "loss", "gradients", "grad", "convention", "weights",
                "gradient_of", "variant", "difficulty")
STEP_FIELDS = ("lr", "matrices")


def pick(src: Mapping, *names: str, default: Any = None) -> tuple[str, Any]:
    """The one of `names` present in `src` (a query string may say T for temperature): (name, value); two of them
    (seq and sequence) are refused, not one of them dropped."""
    given = [name for name in names if name in src]
    if len(given) > 1:
        raise BadRequest(given[1], f"{given[0]} and {given[1]} are one field: give one of them")
    return (given[0], src[given[0]]) if given else (names[0], default)


def shape_problem(value: Any, shape: tuple[int, int]) -> str | None:
    """How `value` differs from a list of shape[0] rows of shape[1] entries ("2 rows", "row 4 with 2 entries", "row 4
    as a string": a value in JSON's words, :func:`dlexam.serve.params.json_kind`, as every refusal of the server
    says it), or None where it has that shape."""
    if not isinstance(value, list):
        return p.json_kind(value)
    if len(value) != shape[0]:
        return f"{len(value)} row{'s' * (len(value) != 1)}"
    for i, r in enumerate(value):
        if not isinstance(r, list):
            return f"row {i + 1} as {p.json_kind(r)}"
        if len(r) != shape[1]:
            return f"row {i + 1} with {len(r)} entr{'y' if len(r) == 1 else 'ies'}"
    return None


def matrix(name: str, value: Any, shape: tuple[int, int], cell) -> list[list[float]]:
    """A JSON matrix of the given shape, every entry a finite number (the library checks its size) or a number as
    text (:func:`typed_weight`: "1/3", the double nearest the fraction); a refusal says what the request gave instead
    (a multi_W_O of 2 rows was "must be a 4x4 list of rows of numbers" alone), an entry's in the words of `cell`
    (i, j -> "W_V, row A, column d1": :func:`dlexam.geoff.weights.cell_words`, as /geoff names the cell)."""
    problem = shape_problem(value, shape)
    if problem is not None:
        raise BadRequest(f"weights.{name}", f"{name} must be a {shape[0]}x{shape[1]} list of rows of numbers, got "
                                            f"{problem}")
    value = [[typed_weight(name, cell(i, j), v) if isinstance(v, str) else v for j, v in enumerate(row)]
             for i, row in enumerate(value)]
    out = []
    for i, row in enumerate(value):
        for j, v in enumerate(row):
            if getattr(v, "problem", ""):  # a JSON number float64 cannot hold (1e-400): params.json_body
                raise BadRequest(f"weights.{name}", f"{cell(i, j)}: {v.problem}")
            if v is None:  # null: a cell left empty, as /geoff says it ("...: type a number (got an empty cell)")
                from dlexam.geoff.weights import EMPTY_CELL

                raise BadRequest(f"weights.{name}", f"{cell(i, j)} {EMPTY_CELL}")
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise BadRequest(f"weights.{name}", f"{cell(i, j)}: type a number (got {repr(v)[:40]})")
            try:
                f = float(v)
            except OverflowError:
                f = math.inf
            if not math.isfinite(f):
                raise BadRequest(f"weights.{name}", f"{name} entries must be finite numbers within +-1e6")
        out.append([float(v) for v in row])
    return out


def typed_weight(name: str, cell: str, text: str) -> float:
    """A weight typed as text, such as the page's cell "1/3": read by the one reader of typed numbers
    (:func:`dlexam.variants.typed.read_text`: a decimal, or a/b, exactly) and given to the model as the double nearest
    that number (float(Fraction(1, 3)), what torch has for 1/3 in float64). Refused naming the cell: text that is no
    number ("1/0", "1/", "a/b"), a number past the model's cap, or one that is not 0 but which float64 reads as 0;
    `cell` names the entry ("W_V, row A, column d1")."""
    from dlexam.geoff.weights import EMPTY_CELL, MAX_WEIGHT
    from dlexam.variants.typed import UnreadableAnswer, read_text

    if not text.strip():  # as /geoff says it (it read "not a number: '' (write 1/4, 0.25 or 2.5e-1)")
        raise BadRequest(f"weights.{name}", f"{cell} {EMPTY_CELL}")
    try:
        f = read_text(text)
    except UnreadableAnswer as exc:
        raise BadRequest(f"weights.{name}", f"{cell}: {exc}") from None
    shown = text.strip()
    if abs(f) > MAX_WEIGHT:
        raise BadRequest(f"weights.{name}", f"{cell}: {shown} is too large: a weight lies between -{MAX_WEIGHT:.0e} "
                                            f"and {MAX_WEIGHT:.0e}".replace("e+0", "e"))
    if f != 0 and float(f) == 0:
        raise BadRequest(f"weights.{name}", f"{cell}: {shown} is too small for a float64 number, which reads it as 0")
    return float(f)


def model_of(src: Mapping):
    """The weights and example a request's model has: Version A's, or with ``variant`` (and ``difficulty``) the
    variant's transformer (`dlexam variant --seed N`)."""
    from dlexam import geoff

    if not has_variant(src):
        if "difficulty" in src:
            raise BadRequest("difficulty", "difficulty goes with variant: give the variant's seed too")
        return geoff.EXAM_WEIGHTS, geoff.EXAM_EXAMPLE
    t = variant_of(src).spec.transformer
    return geoff.GeoffWeights.from_spec(t), " ".join(t.example)


def weights(value: Any, base=None, heads: int | None = None):
    """Edited matrices (any subset of E, W_Q, W_K, W_V, W_O, multi_W_O); the others are `base`'s (Version A's). With
    `heads`, an edit of a matrix that run does not use (multi_W_O with one head: GeoffWeights.unused) is refused,
    naming it: it had been ignored without a word. The matrix as `base` has it is no edit (the page's step sends
    every matrix)."""
    from dlexam.geoff import EXAM_WEIGHTS, GeoffWeights

    base = EXAM_WEIGHTS if base is None else base
    if value is None or value == {}:
        return base
    if not isinstance(value, dict):
        raise BadRequest("weights", "weights must be an object {name: matrix}")
    shapes = base.shapes
    names = (*GeoffWeights.MATRICES, "multi_heads")
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise BadRequest("weights", f"unknown matrix {unknown[0]!r:.40}; edit {', '.join(names)}")
    from dlexam.geoff.weights import cell_words

    edited = {name: matrix(name, m, shapes[name], lambda i, j, name=name: cell_words(base, name, i, j))
              for name, m in value.items() if name != "multi_heads"}
    if "multi_heads" in value:
        edited["multi_heads"] = head_matrices(value["multi_heads"], base)
    for name, m in edited.items():
        if name != "multi_heads":
            with p.field(f"weights.{name}"):
                base.replace(**{name: m})  # the library's own check (shape, finite, within +-1e6)
        why = None if heads is None else base.unused(name, heads)
        own = base.projections(base.heads) if name == "multi_heads" else getattr(base, name)
        if why is not None and _plain(own) != _plain(m):
            raise BadRequest(f"weights.{name}", f"weights.{name}: {why}: this edit would not be used; edit "
                             f"{'W_Q, W_K, W_V' if name == 'multi_heads' else 'W_O'} instead, or ask for the k heads")
    return base.replace(**edited)


def _plain(m: Any) -> Any:
    """A matrix, or heads' matrices, as nested lists (tuples and lists compare equal)."""
    return [_plain(r) for r in m] if isinstance(m, list | tuple) else m


def head_matrices(value: Any, base) -> tuple[tuple[list[list[float]], ...], ...]:
    """`weights.multi_heads`: the k heads' own W_Q, W_K, W_V, ``[{"W_Q": .., "W_K": .., "W_V": ..}, ...]`` (the
    spelling of GeoffWeights.to_json and of a step's answer), each matrix checked as every other (shape, finite;
    the cap by the library), a refusal naming the head and matrix: ``weights.multi_heads[1].W_K``."""
    k, shape = base.heads, base.shapes["W_Q"]
    if not isinstance(value, list) or len(value) != k:
        got = f"{len(value)} heads" if isinstance(value, list) else type(value).__name__
        raise BadRequest("weights.multi_heads", f"multi_heads must be a list of the model's {k} heads, each "
                                                f"{{W_Q, W_K, W_V}}, got {got}")
    from dlexam.geoff import GeoffWeights
    from dlexam.geoff.weights import cell_words

    out = []
    for h, head in enumerate(value):
        where = f"multi_heads[{h}]"
        if not isinstance(head, dict) or set(head) != set(GeoffWeights.HEAD_MATRICES):
            have = sorted(head)[:5] if isinstance(head, dict) else type(head).__name__
            raise BadRequest(f"weights.{where}", f"{where} must be an object with W_Q, W_K and W_V (head {h + 1}'s "
                                                 f"own matrices), got {have}")
        mats = tuple(matrix(f"{where}.{n}", head[n], shape, lambda i, j, n=n, h=h: cell_words(base, n, i, j, h))
                     for n in GeoffWeights.HEAD_MATRICES)
        for n, m in zip(GeoffWeights.HEAD_MATRICES, mats, strict=True):
            try:
                base.replace(**{n: m})  # the library's own check (finite, within +-1e6)
            except UserError as exc:
                raise BadRequest(f"weights.{where}.{n}", f"{where}.{n} (head {h + 1}'s {n}): {exc}") from None
        out.append(mats)
    return tuple(out)


def geoff_query(src: Mapping):
    """A GeoffQuery from query-string fields or a JSON body (a variant's model with ``variant``)."""
    from dlexam import geoff

    base, example = model_of(src)
    name, seq = pick(src, "seq", "sequence", default=example)
    seq = p.text(name, seq)
    with p.tokens(name, seq, base.vocab):
        geoff.parse_sequence(seq, base.vocab)
    t_name, t = pick(src, "temperature", "T", default="0")
    g_name, g = pick(src, "gradients", "grad", default=False)
    temperature = p.temperature(t_name, t)
    heads = p.whole("heads", src.get("heads", 1), (1, base.heads))
    loss = True if p.flag("loss", src.get("loss", False)) else None
    gradients = p.flag(g_name, g)
    convention = p.choice("convention", src.get("convention", "teacher_forcing"), geoff.CONVENTIONS)
    w = weights(src.get("weights"), base, heads)
    return geoff.GeoffQuery(
        sequence=seq, temperature=temperature, heads=heads, loss=loss, gradients=gradients, convention=convention,
        weights=w, gradient_of=p.names("gradient_of", src.get("gradient_of", list(geoff.PARAMETERS)), geoff.STEP_NAMES,
                                       weights=w, heads=heads),
    )


def step_settings(src: Mapping, query=None):
    """The gradient step's `lr` (0 < lr <= 100, default 0.1) and `matrices` (default W_Q, W_K, W_V, W_O; with the
    `query` the step is of, refused where they name a matrix its run does not use: multi_W_O with one head)."""
    from dlexam import geoff
    from dlexam.geoff.step import DEFAULT_LR, StepSettings

    lr = p.number("lr", src.get("lr", DEFAULT_LR), 0, 100)
    model = {} if query is None else {"weights": query.weights, "heads": query.heads}
    matrices = p.names("matrices", src.get("matrices", list(geoff.PARAMETERS)), geoff.STEP_NAMES, **model)
    return StepSettings(lr, tuple(matrices))
