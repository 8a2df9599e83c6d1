"""Grading a submission against a variant's key: exact for rationals, the key's tolerance for irrationals.

A submission (answer id -> answer, read from a file by :mod:`dlexam.variants.submission`) is scored answer by
answer, each answer read by :mod:`dlexam.variants.reading` and each typed number scored by
:func:`dlexam.variants.typed.scores`. Every answer field earns its share of the question's points; a matrix earns it
cell by cell. Each wrong cell or value is reported with the right value and a one-line reason; a wrong choice with
why the chosen option is wrong where the variant knows (``Field.option_reasons``). Where one mistake explains a whole
answer (a matrix transposed, P without the causal mask, a loss in log base 10:
:func:`dlexam.variants.mistakes.whole_mistake`), its reason names it first; before that, where an answer (or a
matrix's rows) is what the student's own wrong earlier answer gives (P from their S, the loss from their logit rows:
``Field.follows``, :mod:`dlexam.variants.follow`), it says "right given your S", and scores it against the key all
the same, as every export does. Essays are left to a person: their points are reported as ``manual_points``.
:func:`grade` is what `dlexam grade` and the web page's practice call.

Only what leaves nothing to grade is refused (:class:`~dlexam.variants.submission.SubmissionError`: one line,
`dlexam grade` exits 2): a file that is not UTF-8 JSON or CSV, a submission with no answers, an answer id the variant
does not have, a seed or difficulty of another variant (both mean the wrong variant or the wrong file). One answer
that cannot be read (an option number out of range, text that is not a number, a matrix of the wrong shape) costs
only its own points, or its cells': it is wrong, its feedback says what is wrong with it (``invalid``), and the rest
is graded as usual. A matrix's missing rows or cells are not answered; rows or cells beyond its shape are ignored and
noted (``notes``). An answer with nothing in it ("", null, empty cells only) counts as left out (``missing``).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from dlexam.errors import UserError
from dlexam.spec import text
from dlexam.variants.follow import choice_given, choice_words, row_given, row_words, value_given, value_words
from dlexam.variants.mistakes import (
    as_written,
    cell_name,
    expected_text,
    rounding,
    rows_among,
    shown_cell,
    transposed,
    transposed_slips,
    transposition,
    whole_mistake,
)
from dlexam.variants.model import SUBMISSION_META, Field, Variant
from dlexam.variants.reading import LETTERS, left_out, one_value, read_choice, read_matrix, read_number
from dlexam.variants.submission import SubmissionError, given_lines, split_number, split_option
from dlexam.variants.typed import UnreadableAnswer, scores, shown


@dataclass
class FieldResult:
    id: str
    question: str
    points: Fraction  # exact: the field's share of the question's points, times the fraction of it right
    max_points: Fraction
    correct: bool
    wrong: list[dict] = field(default_factory=list)  # each: where, given, expected, reason (and at, invalid, cell;
    #                                                  a wrong choice: option, option_why, answer, right_why)
    notes: list[str] = field(default_factory=list)  # what was written beyond a matrix's shape, or short of it
    mistake: str = ""  # a matrix's whole-answer mistake (whole_mistake), once; its cells' reasons start with it

    def to_json(self) -> dict:
        return {"id": self.id, "question": self.question, "points": float(self.points),
                "max_points": float(self.max_points), "correct": self.correct, "wrong": self.wrong,
                "notes": self.notes, "mistake": self.mistake}


@dataclass
class Grade:
    seed: int
    difficulty: str
    score: Fraction  # exact (points are the exam's, shared exactly between fields and cells)
    max_score: Fraction  # the points graded here: every question's but the essays'
    manual_points: Fraction  # essay points, for a person to grade
    fields: list[FieldResult]
    missing: list[str]

    def to_json(self) -> dict:
        return {"seed": self.seed, "difficulty": self.difficulty, "score": float(self.score),
                "max_score": float(self.max_score), "score_exact": text(self.score),
                "manual_points": float(self.manual_points), "missing": self.missing,
                "fields": [f.to_json() for f in self.fields]}


def _because(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def unanswered(aid: str, qid: str, f: Field, q_points: int) -> FieldResult:
    return FieldResult(aid, qid, Fraction(0), f.points * q_points, False,
                       [{"where": aid, "given": "", "expected": "an answer", "reason": "not answered"}])


Sources = Callable[[str], object]  # an answer id -> the sheet's answer to it as read (a matrix's rows, a number)


def _no_sources(aid: str) -> None:
    return None


def grade_field(aid: str, qid: str, q_points: int, f: Field, value, sources: Sources = _no_sources) -> FieldResult:
    """One answer against its field of the key. An answer that cannot be read scores 0 (a matrix cell: that
    cell), with what is wrong with it as ``invalid``; it raises nothing. `sources` gives the sheet's other answers
    as read, for the answers this one follows from (``Field.follows``): one wrong only because it used them
    rightly is said to be, and scored against the key all the same."""
    share = f.points * q_points
    if f.kind == "matrix":
        return _grade_matrix(aid, qid, share, f, value, sources)
    written = value
    try:
        written = one_value(value)  # "9" of a CSV line "P1.1.choice,9,,"
        if written is None:
            return unanswered(aid, qid, f, q_points)
        got = read_choice(written, len(f.options), f.options) if f.kind == "choice" else read_number(written)
    except UnreadableAnswer as bad:
        if f.kind == "choice" and (split := split_option(value)):
            bad = UnreadableAnswer(f"{bad}: a CSV line is split at each comma outside quotes, so an option's text "
                                   f"with a comma is several cells; write it in quotes, \"{split[1]}\", or the "
                                   f"option's number alone, {split[0]}")
        elif f.kind == "number" and (split := split_number(value)):
            bad = UnreadableAnswer(f"{bad}: {split}")
        elif len(lines := given_lines(value)) > 1:
            bad = UnreadableAnswer(f"{bad}: {aid} is on {len(lines)} lines ({', then '.join(lines)}): give each "
                                   "answer once")
        return FieldResult(aid, qid, Fraction(0), share, False, [
            {"where": aid, "given": shown(written), "expected": expected_text(f),
             "reason": _because(str(bad), f.why), "invalid": str(bad)}])
    if f.kind == "choice":
        ok = got == f.answer
        follow = "" if ok else _followed_choice(f, got, sources)  # the option the sheet's own earlier answer gives
        option_why = follow or (f.option_reasons[got - 1] if f.option_reasons else "")  # why the chosen one is wrong
        reason = _because(follow, f.why) if follow else option_why or f.why  # else why the right one is right
        wrong = [] if ok else [{"where": aid, "given": f"{got}: {f.options[got - 1]}", "expected": expected_text(f),
                                "reason": reason, "option": got, "option_why": option_why, "answer": f.answer,
                                "right_why": "" if f.why in option_why else f.why}]
        plain = isinstance(written, str) and written.strip().lower() in (str(got), LETTERS[got - 1])
        read_as = [] if plain or not isinstance(written, str) else [f"{written.strip()!r} read as option {got}"]
        return FieldResult(aid, qid, share if ok else Fraction(0), share, ok, wrong, read_as)
    ok = scores(got, f.answer, f.tolerance)  # exactly (same_value) or within the tolerance (near): typed.scores
    given = as_written(written, got)
    wrong = [] if ok else [{"where": aid, "given": given, "expected": expected_text(f),
                            "reason": _because(rounding(written, got, f.answer, f.tolerance)
                                               or _followed_value(f, got, sources) or whole_mistake(f, got)[0],
                                               f.why)}]
    return FieldResult(aid, qid, share if ok else Fraction(0), share, ok, wrong)


def _followed_value(f: Field, got: Fraction, sources: Sources) -> str:
    """The words for a wrong number that is what one of its follow-through rules gives on the sheet's own source
    answer (where that differs from the key), else ""."""
    for ft in f.follows:
        given = value_given(ft, sources(ft.source))
        if given is None or scores(Fraction(given), f.answer, f.tolerance):
            continue  # nothing read, or the source's error does not reach this answer
        if scores(got, given, f.tolerance):
            return value_words(ft, given)
    return ""


def _followed_choice(f: Field, got: int, sources: Sources) -> str:
    """The words for a wrong choice that is the option one of its follow-through rules gives on the sheet's own
    source answer (where that option is not the key's), else ""."""
    for ft in f.follows:
        given = choice_given(ft, sources(ft.source))
        if given is not None and given != f.answer and given == got:
            return choice_words(ft, given == ft.data["same"])
    return ""


def _followed_rows(f: Field, read: list, sources: Sources) -> tuple[str, set[int]]:
    """The wrong rows of a matrix answer that one follow-through rule gives on the sheet's own source answer (each
    row where that differs from the key's), and its words; ("", set()) where none."""
    wrong = [i for i, r in enumerate(read) if f.follows
             and not all(isinstance(x, Fraction) and scores(x, w) for x, w in zip(r, f.answer[i], strict=True))]
    for ft in f.follows if wrong else ():
        source = sources(ft.source)
        if not isinstance(source, list):
            continue
        rows = set()
        for i in wrong:
            r = read[i]
            given = row_given(ft, source, i)
            if (given is not None and len(given) == len(r) and given != tuple(f.answer[i])
                    and all(isinstance(x, Fraction) and scores(x, w) for x, w in zip(r, given, strict=True))):
                rows.add(i)
        if rows:
            return row_words(ft, [f.row_labels[i] if f.row_labels else str(i + 1) for i in sorted(rows)]), rows
    return "", set()


def _grade_matrix(aid: str, qid: str, share: Fraction, f: Field, value, sources: Sources = _no_sources) -> FieldResult:
    """A matrix earns its share cell by cell; an unreadable or missing cell is wrong, the others count."""
    rows, cols = len(f.answer), len(f.answer[0])
    try:
        cells, notes = read_matrix(value, rows, cols, f.row_labels)
    except UnreadableAnswer as bad:
        return FieldResult(aid, qid, Fraction(0), share, False, [
            {"where": aid, "given": shown(value), "expected": expected_text(f), "reason": str(bad),
             "invalid": str(bad)}])
    swapped, slips, given_t = transposed(f, value) if notes else ("", [], [])  # read in the key's shape, its rows
    if swapped:  # or cells were too many or few: no value of it is in its place, one wrong answer, not cells
        given = [[shown_cell(w, got) for w, got in r] for r in given_t]  # where they land
        labels = f" (rows {f.row_labels[0]} to {f.row_labels[-1]})" if f.row_labels else ""
        right_ones = "every value is right" if not slips else "every other value is right"
        rest = _because(f"{right_ones}, but written at row j, column i for row i, column j, so none is in its "
                        f"place; write {rows} rows of {cols}{labels}", f.why)
        wrong = [{"where": aid, "given": "[" + "; ".join(", ".join(r) for r in given) + "]",
                  "expected": expected_text(f), "reason": f"{swapped}: {rest}"}
                 | ({"cell": rest} if slips else {})]  # with entries for its wrong values: the name said once
        for i, j in slips:  # each wrong value where it belongs, in the key's coordinates
            cell = _because(f"wrong read transposed too (written at row {j + 1}, column {i + 1})",
                            f.reason(i, j) if f.reason else "")
            wrong.append({"where": cell_name(f, i, j), "at": [i, j], "given": given[j][i],
                          "expected": text(f.answer[i][j]), "reason": _because(swapped, cell), "cell": cell})
        return FieldResult(aid, qid, Fraction(0), share, False, wrong, [], swapped)
    if notes and (among := rows_among(f, value)):  # the rows asked among more rows given: scored where they stand
        notes, cells = [among[0]], among[1]
    wrong = []
    read = [[got for _, got in r] for r in cells]
    # rows right given the sheet's own earlier answer (where that is wrong) first: this step was done right; then a
    # named mistake of the answer's own, of every other wrong row
    follow, followed = _followed_rows(f, read, sources)
    rest = [list(f.answer[i]) if i in followed else r for i, r in enumerate(read)]
    whole, explained = (whole_mistake(f, rest) if all(isinstance(x, Fraction) for r in rest for x in r)
                        else ("", range(0)))
    square = transposed_slips(f.answer, cells) if not whole and not followed and rows == cols else None
    if square:  # a square answer transposed, a slip or two in it: named, its cells scored where they land, as
        whole, explained, slips = transposition(f, cells, square), range(rows), square  # one without a slip is
    slipped = {(j, i) for i, j in slips}  # where each wrong value stands in the answer
    for i in range(rows):
        for j in range(cols):
            written, got = cells[i][j]
            if isinstance(got, Fraction) and scores(got, f.answer[i][j]):
                continue
            where = cell_name(f, i, j)
            why = f.reason(i, j) if f.reason else ""
            entry = {"where": where, "at": [i, j], "given": "", "expected": text(f.answer[i][j]), "reason": why}
            if got is None:
                entry["reason"] = _because("not answered", why)
            elif isinstance(got, UnreadableAnswer):
                entry |= {"given": shown(written), "reason": _because(str(got), why), "invalid": str(got)}
            elif (i, j) in slipped:  # wrong here, and wrong read transposed too: the key's cell (j, i)
                cell = _because(f"wrong read transposed too: {cell_name(f, j, i)} is {text(f.answer[j][i])}", why)
                entry |= {"given": as_written(written, got), "reason": _because(whole, cell), "cell": cell}
            elif i in followed:  # right given the sheet's own source answer; named once unless another mistake is
                entry |= {"given": as_written(written, got), "reason": _because(follow, why)}
                entry |= {} if whole else {"cell": why}
            elif i in explained:  # the whole answer's mistake; "cell": what this cell's reason adds to it
                entry |= {"given": as_written(written, got), "reason": _because(whole, why), "cell": why}
            else:
                entry |= {"given": as_written(written, got),
                          "reason": _because(rounding(written, got, f.answer[i][j]), why)}
            wrong.append(entry)
    right = rows * cols - len(wrong)
    named = (whole or follow) if any("cell" in w for w in wrong) else ""
    return FieldResult(aid, qid, share * Fraction(right, rows * cols), share, not wrong, wrong, notes, named)


def _named_variant(v: Variant, submission: dict) -> None:
    """Refuse a submission whose ``seed``, ``difficulty`` or ``fingerprint`` (where given) is another variant's."""
    said = {}
    for name in SUBMISSION_META:
        try:
            said[name] = one_value(submission.get(name))
        except UnreadableAnswer:
            said[name] = shown(submission[name])
    for name, want in (("seed", v.seed), ("difficulty", v.difficulty)):
        if said[name] is not None and str(said[name]).strip() != str(want):
            seed = v.seed if said["seed"] is None else said["seed"]
            raise SubmissionError(f"{name}: this submission is for variant {seed} "
                                  f"({said['difficulty'] or 'standard'}), not variant {v.seed} ({v.difficulty})")
    fingerprint = None if said["fingerprint"] is None else str(said["fingerprint"]).strip().lower()
    if fingerprint is not None and v.fingerprint and fingerprint != v.fingerprint:
        if other := _difficulty_of(v, fingerprint):  # a harder exam's sheet graded as the standard one, say
            saved = "" if isinstance(v, Variant) else (f", or against its own key.json: dlexam variant --seed {v.seed} "
                                                       f"--difficulty {other} --out DIR writes it")
            raise SubmissionError(f"fingerprint: this submission is for variant {v.seed} ({other}), whose "
                                  f"fingerprint {fingerprint} it gives, not variant {v.seed} ({v.difficulty}): grade "
                                  f"it as that one (dlexam grade --variant {v.seed} --difficulty {other} ...){saved}")
        raise SubmissionError(f"fingerprint: this submission answers an exam with fingerprint "
                              f"{shown(str(said['fingerprint']).strip())}, and variant {v.seed} ({v.difficulty}) "
                              f"here has fingerprint {v.fingerprint}: another dlexam drew that exam for seed {v.seed}; "
                              "grade it against the key.json written with it (dlexam grade --key KEY.json ...)")


def _difficulty_of(v: Variant, fingerprint: str) -> str:
    """The other difficulty whose variant of `v`'s seed, as this dlexam draws it, has `fingerprint`; "" if none.
    `v` may be a saved key.json (`grade --key`): a sheet of the seed's other difficulty, as this dlexam draws it, is
    named so too (its fingerprint is that exam's whoever wrote the key)."""
    from dlexam.variants.build import make_variant
    from dlexam.variants.draw import DIFFICULTIES

    if isinstance(v, Variant):  # as `v` was made: Pr2.5 (computed with torch) is in its fingerprint
        computed = v.draw is not None and v.draw.gradients is not None
    else:  # a saved key has Pr2.5 where it was made with torch
        computed = any(q.id == "Pr2.5" for q in v.questions)
    for d in DIFFICULTIES:
        try:
            if d != v.difficulty and make_variant(v.seed, d, computed).fingerprint == fingerprint:
                return d
        except UserError:  # no well-posed variant of that difficulty: not the one
            continue
    return ""


def id_meant(unknown: str, known) -> str:
    """What an unknown answer id almost is, said after "no such answer": a known id run into its answer, its
    separator lost ("Pr1.3.in_features 108", "Pr1.3.in_features: 108"), or a known id in other letter case; ""
    for any other."""
    for k in known:
        if m := re.fullmatch(re.escape(k) + r"\s*[:=]?\s*(\S.*)", unknown, re.DOTALL):
            if unknown[len(k)].isspace() or unknown[len(k)] in ":=":
                return (f": is it {k} with its answer, {shown(m.group(1).strip())}, in the same cell? Write the id "
                        f"and the answer in cells of their own: {k},{shown(m.group(1).strip())}")
    same = [k for k in known if k.casefold() == unknown.strip().casefold()]
    return f": is it {same[0]}? Answer ids are written as the exam prints them" if same else ""


def _read_source(known: dict, submission: dict, aid: str):
    """Answer `aid` of a sheet as read, for the answers that follow from it: a matrix as rows of cells (a Fraction,
    None or UnreadableAnswer each), a number as a Fraction; None where it is not answered or cannot be read."""
    if aid not in known or left_out(submission.get(aid)):
        return None
    f = known[aid][1]
    try:
        if f.kind == "matrix":
            cells, _ = read_matrix(submission[aid], len(f.answer), len(f.answer[0]), f.row_labels)
            return [[got for _, got in r] for r in cells]
        return read_number(one_value(submission[aid])) if f.kind == "number" else None
    except UnreadableAnswer:
        return None


def grade(v: Variant, submission: dict) -> Grade:
    """Score `submission` (answer id -> answer) against variant `v`'s key. Raises
    :class:`~dlexam.variants.submission.SubmissionError` only for a submission with nothing to grade: no answers, an
    answer id `v` does not have, or another variant's."""
    _named_variant(v, submission)
    known = v.fields()
    if not any(k not in SUBMISSION_META for k in submission):
        raise SubmissionError("submission: no answers in it (give answer id -> answer, e.g. \"Pr2.2.P\")")
    unknown = [k for k in submission if k not in known and k not in SUBMISSION_META]
    if unknown:
        raise SubmissionError(f"{shown(unknown[0])}: no such answer in variant {v.seed}"
                              + (id_meant(unknown[0], known) or "; the answers are " + ", ".join(known)))
    read: dict[str, object] = {}

    def sources(aid: str):  # the sheet's answer to `aid` as read, once, for the answers that follow from it
        if aid not in read:
            read[aid] = _read_source(known, submission, aid)
        return read[aid]

    results, missing, manual = [], [], Fraction(0)
    for aid, (q, f) in known.items():
        if f.kind == "essay":
            manual += f.points * q.points
            continue
        if left_out(submission.get(aid)):
            missing.append(aid)
            results.append(unanswered(aid, q.id, f, q.points))
            continue
        results.append(grade_field(aid, q.id, q.points, f, submission[aid], sources))
    score = sum((r.points for r in results), Fraction(0))
    max_score = sum((r.max_points for r in results), Fraction(0))
    return Grade(v.seed, v.difficulty, score, max_score, manual, results, missing)
