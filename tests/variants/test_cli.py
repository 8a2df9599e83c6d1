"""`dlexam variant`, `dlexam grade`, `dlexam answers --variant`, `dlexam geoff --variant` end to end: the stable
interface of issue 19 item 6 (docs/variants.md), the files written, and bad input as one line with exit 2."""

from __future__ import annotations

import json
import os
from fractions import Fraction

import pytest

from dlexam.cli import main
from dlexam.files import OutputDir


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_variant_json_is_seed_spec_and_a_key_that_grades_full(capsys, tmp_path):
    code, out, _ = run(capsys, "variant", "--seed", "3", "--json")
    data = json.loads(out)
    assert code == 0 and {"seed", "spec", "key", "fingerprint"} <= set(data) and data["seed"] == 3
    assert data["key"]["fingerprint"] == data["fingerprint"]
    from dlexam.spec import ExamSpec
    from dlexam.variants import make_variant

    assert ExamSpec.from_dict(data["spec"]) == make_variant(3).spec  # the spec round-trips exactly
    (tmp_path / "key.json").write_text(json.dumps(data["key"]))
    code, out, _ = run(capsys, "grade", "--variant", "3", str(tmp_path / "key.json"), "--json")
    g = json.loads(out)
    assert code == 0 and g["score"] == g["max_score"] > 0


def test_variant_out_writes_every_format_and_refuses_a_foreign_file(capsys, tmp_path):
    out = tmp_path / "v"
    code, text, _ = run(capsys, "variant", "--seed", "2", "--out", str(out), "--format", "markdown,key,moodle,qti")
    assert code == 0 and "wrote" in text
    assert {p.name for p in out.iterdir()} >= {"exam.md", "solution.md", "key.json", "moodle.xml", "qti.zip"}
    key = json.loads((out / "key.json").read_text())
    code, text, _ = run(capsys, "grade", "--variant", "2", str(out / "key.json"))
    assert code == 0 and "of" in text
    assert run(capsys, "variant", "--seed", "2", "--out", str(out), "--format", "markdown")[0] == 0  # ours: replaced
    (out / "exam.md").write_text("a teacher's notes")
    code, _, err = run(capsys, "variant", "--seed", "2", "--out", str(out), "--format", "markdown")
    assert code == 2 and "not written by dlexam" in err and (out / "exam.md").read_text() == "a teacher's notes"
    assert key["seed"] == 2


@pytest.mark.parametrize("seed, difficulty", [("1", "standard"), ("4", "harder")])
def test_pdf_is_typeset(capsys, tmp_path, seed, difficulty):
    code, _, _ = run(capsys, "variant", "--seed", seed, "--difficulty", difficulty, "--out", str(tmp_path),
                     "--format", "pdf")
    assert code == 0
    for name in ("exam.pdf", "solution.pdf"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"%PDF-") and len(data) > 5000


@pytest.mark.parametrize("epoch, day", [(None, (2025, 1, 22)), ("1767225600", (2026, 1, 1)),
                                        ("0", (1970, 1, 1))])
def test_a_variants_files_are_the_same_bytes_each_time_and_source_date_epoch_dates_them(
        capsys, tmp_path, monkeypatch, epoch, day):
    """Typst stamped each PDF with the time it was made (its CreationDate and the /ID derived from it), so two
    exports of one variant differed. They are dated Version A's date, as the QTI zip's entries were, or by
    SOURCE_DATE_EPOCH (reproducible builds' convention, which the typst package does not read itself); a zip
    entry can carry no time before 1980."""
    import datetime
    import re
    import zipfile

    if epoch is None:
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    else:
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    for name in ("a", "b"):
        assert run(capsys, "variant", "--seed", "1", "--out", str(tmp_path / name), "--format", "pdf,qti")[0] == 0
    stamp = datetime.datetime(*day, tzinfo=datetime.UTC).strftime("D:%Y%m%d%H%M%SZ").encode()
    for name in ("exam.pdf", "solution.pdf", "qti.zip"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for name in ("exam.pdf", "solution.pdf"):
        assert re.findall(rb"/CreationDate\s*\(([^)]*)\)", (tmp_path / "a" / name).read_bytes()) == [stamp]
    with zipfile.ZipFile(tmp_path / "a" / "qti.zip") as z:
        assert {i.date_time for i in z.infolist()} == {(*max(day, (1980, 1, 1)), 0, 0, 0)}


@pytest.mark.parametrize("value", ["soon", "-1", "1.5", "99999999999999999999", " 7"])
def test_a_source_date_epoch_that_is_no_time_is_one_line(capsys, tmp_path, monkeypatch, value):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    code, out, err = run(capsys, "variant", "--seed", "1", "--out", str(tmp_path / "v"), "--format", "pdf")
    assert code == 2 and out == "" and err.count("\n") == 1 and "SOURCE_DATE_EPOCH" in err
    assert not (tmp_path / "v").exists()


def test_explain_lists_the_checks_and_the_refused_draws(capsys):
    code, out, _ = run(capsys, "variant", "--seed", "1", "--explain")
    assert code == 0 and "distinct_embeddings" in out and "float64_agrees" in out and "Earlier draws refused" in out


def test_answers_for_a_variant(capsys):
    code, out, _ = run(capsys, "answers", "--variant", "1", "--json")
    key = json.loads(out)
    assert code == 0 and [a["id"] for a in key][:3] == ["P1.1", "P1.4", "P1.6"]
    assert all(a["verdict"] == "agrees" for a in key)
    code, out, _ = run(capsys, "answers", "--variant", "1", "-q", "pr2.4")
    assert code == 0 and out.startswith("Pr2.4")


@pytest.mark.parametrize("argv, more", [
    (["--variant", "1"], "dlexam answers --variant 1 --question ID"),
    (["--variant", "2", "--difficulty", "harder"], "dlexam answers --variant 2 --difficulty harder --question ID"),
])
def test_a_variants_table_names_the_command_that_shows_one_of_its_answers(capsys, argv, more):
    """It named `dlexam answers --question ID`, which shows Version A's answer, not the variant's."""
    code, out, _ = run(capsys, "answers", *argv)
    assert code == 0 and f"`{more}` shows one in full." in out
    code, again, _ = run(capsys, *more.replace("ID", "Pr2.4").split()[1:])
    assert code == 0 and again.startswith("Pr2.4")


def test_geoff_for_a_variant(capsys):
    code, out, _ = run(capsys, "geoff", "--variant", "1", "--json")
    d = json.loads(out)
    from dlexam.variants import make_variant

    assert code == 0 and d["vocab"] == list(make_variant(1).spec.transformer.vocab)
    assert d["tokens"] == list(make_variant(1).spec.transformer.example)
    assert set(d["weights"]) >= {"E", "W_Q", "W_K", "W_V", "W_O"} and len(d["weights"]["E"]) == len(d["vocab"])
    assert {"tokens", "attention", "loss"} <= set(d) and set(d["loss"]) >= {"exam", "teacher_forcing"}
    code, out, _ = run(capsys, "geoff", "--variant", "1", "A B <START> A B <STOP>", "--json")
    assert code == 0 and json.loads(out)["tokens"][:2] == ["A", "B"]


@pytest.mark.parametrize("argv, needle", [
    (["variant", "--seed", "-1"], "--seed"),
    (["variant", "--seed", "x"], "--seed"),
    (["variant", "--seed", "1", "--format", "docx"], "--format"),
    (["grade", "--variant", "1", "/nonexistent/sub.json"], "cannot read the submission"),
    (["geoff", "--variant", "1", "Z A"], "unknown token 'Z'"),
    (["answers", "--variant", "1", "-q", "P1.2"], "has no question P1.2"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and needle in err


def test_a_submission_for_another_variant(capsys, tmp_path):
    sub = tmp_path / "s.json"
    _, out, _ = run(capsys, "variant", "--seed", "4", "--json")
    sub.write_text(json.dumps(json.loads(out)["key"]))
    code, out, err = run(capsys, "grade", "--variant", "5", str(sub))
    assert code == 2 and out == "" and err.startswith("dlexam: error: seed:") and err.count("\n") == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("Pr9.9.x,1\n")  # no such answer in a variant: the wrong file
    code, _, err = run(capsys, "grade", "--variant", "4", str(bad))
    assert code == 2 and err.startswith("dlexam: error: Pr9.9.x: no such answer in variant 4") and err.count("\n") == 1
    drawn_otherwise = tmp_path / "old.csv"  # seed 4 as another dlexam drew it: its exam named another fingerprint
    drawn_otherwise.write_text("id,value\nseed,4\nfingerprint,0123456789ab\nP1.4.choice,2\n")
    code, out, err = run(capsys, "grade", "--variant", "4", str(drawn_otherwise))
    assert code == 2 and out == "" and err.startswith("dlexam: error: fingerprint:") and err.count("\n") == 1
    assert "0123456789ab" in err and "dlexam grade --key KEY.json" in err


def test_the_audits_malformed_answers_grade_with_feedback(capsys, tmp_path, monkeypatch):
    """The audit's commands (issue: one malformed answer refused the whole submission): now each is graded, that
    answer scoring 0 with what is wrong with it, the others as usual; rc 0."""
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "variant", "--seed", "7", "--out", "exam7", "--format", "key")[0] == 0
    key = json.loads((tmp_path / "exam7" / "key.json").read_text())["key"]
    (tmp_path / "b1.json").write_text('{"P1.1.choice": 9}\n')
    code, out, err = run(capsys, "grade", "--variant", "7", "b1.json")
    assert code == 0 and err == "" and out.startswith("Variant 7 (standard): 0.00 of 57.00 points")
    assert "P1.1.choice: gave 9, expected 1: " in out and " - option 9 is not one of 1-4; " in out
    assert "1 wrong (1 unreadable)" in out
    (tmp_path / "b2.json").write_text(json.dumps({**key, "P1.1.choice": "abc", "Pr2.2.P": key["Pr2.2.P"][:3]}))
    code, out, _ = run(capsys, "grade", "--variant", "7", "b2.json", "--json")
    g = json.loads(out)
    # all but P1.1's 4 points and the 28 of P's 49 cells in rows 4-7 (P: 5 points)
    assert code == 0 and Fraction(g["score_exact"]) == 57 - 4 - Fraction(5 * 28, 49)
    f = {r["id"]: r for r in g["fields"]}
    assert f["P1.1.choice"]["wrong"][0]["invalid"].startswith("not a number: 'abc'")
    assert f["Pr2.2.P"]["notes"] == ["3 of 7 rows given: rows 4-7 count as not answered"]
    code, out, _ = run(capsys, "grade", "--variant", "7", "b2.json")
    assert code == 0 and "Pr2.2.P: note: 3 of 7 rows given: rows 4-7 count as not answered" in out
    (tmp_path / "b3.json").write_bytes(b"\xff{")
    code, out, err = run(capsys, "grade", "--variant", "7", "b3.json")
    assert code == 2 and out == "" and err == "dlexam: error: b3.json: not UTF-8 text (give JSON or CSV)\n"


def test_a_wrong_choice_says_why_the_chosen_option_is_wrong(capsys, tmp_path):
    """The audit's `P1.4.choice: gave 2, expected 1: 66 x 89 - 66 x 89` now names the option and the mistake: on
    variant 7 option 2 is 89 x 66, the right size (132 + 2 - 4)/2 + 1 = 66 rows by (91 + 4 - 7)/1 + 1 = 89."""
    sub = tmp_path / "s.json"
    sub.write_text('{"P1.4.choice": 2}')
    code, out, _ = run(capsys, "grade", "--variant", "7", str(sub))
    assert code == 0
    assert ("P1.4.choice: gave 2: 89 x 66, expected 1: 66 x 89 - option 2: it swaps rows and columns: rows "
            "(132 + 2 - 4)/2 + 1 = 66, columns (91 + 4 - 7)/1 + 1 = 89") in out


@pytest.mark.parametrize("first", [["--format", "key"], ["--format", "markdown"]])
def test_a_folder_of_one_variant_takes_no_other(capsys, tmp_path, first):
    """An audit wrote variant 8's key.json into variant 7's folder, beside 7's exam and solution."""
    out = tmp_path / "v7"
    assert run(capsys, "variant", "--seed", "7", "--out", str(out), *first)[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, stdout, err = run(capsys, "variant", "--seed", "8", "--out", str(out), "--format", "key")
    assert code == 2 and stdout == ""
    assert err.strip() == (f"dlexam: error: --out {out} holds variant 7 (standard)'s files; writing variant 8 "
                           "(standard) there would mix two versions (choose another folder, or --force)")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert run(capsys, "variant", "--seed", "7", "--out", str(out), "--format", "key")[0] == 0  # the same: fine
    assert run(capsys, "variant", "--seed", "8", "--out", str(out), "--format", "key", "--force")[0] == 0
    assert json.loads((out / "key.json").read_text())["seed"] == 8


def test_variant_writes_no_file_through_a_link(capsys, tmp_path):
    target = tmp_path / "foreign.md"
    target.write_text("keep")
    out = tmp_path / "v"
    out.mkdir()
    os.symlink(target, out / "exam.md")
    code, _, err = run(capsys, "variant", "--seed", "1", "--out", str(out), "--format", "markdown")
    assert code == 2 and "link" in err and target.read_text() == "keep"


def test_svhn_summary_of_a_variant(capsys):
    """`svhn summary --variant N --json`: the variant's CNN, against nn layers built here from its layer table."""
    import torch
    from torch import nn

    from dlexam.variants import make_variant

    cnn = make_variant(2).spec.cnn
    code, out, _ = run(capsys, "svhn", "summary", "--variant", "2", "--json")
    d = json.loads(out)
    assert code == 0 and d["input"] == [cnn.input_channels, *cnn.input_size]
    x, total, shapes = torch.zeros(1, cnn.input_channels, *cnn.input_size), 0, []
    for layer in cnn.layers[:-1]:
        m = (nn.Conv2d(x.shape[1], layer.out_channels, layer.kernel, layer.stride, layer.padding)
             if layer.kind == "conv" else nn.AvgPool2d(layer.kernel, layer.stride))
        x = m(x)
        total += sum(p.numel() for p in m.parameters())
        shapes.append(list(x.shape[1:]))
    total += (x.numel() + 1) * 10
    assert [r["out_shape"] for r in d["layers"] if r["kind"] in ("conv", "pool")] == shapes
    assert d["total_params"] == total


def test_a_folder_of_one_seed_as_another_dlexam_drew_it_takes_no_other_drawing(capsys, tmp_path):
    """key.json in the folder is variant 7 as an earlier dlexam drew it (here: one keyed answer changed, and no
    fingerprint, as keys were before): writing today's variant 7 beside its exam would mix two papers of seed 7."""
    out = tmp_path / "v7"
    assert run(capsys, "variant", "--seed", "7", "--out", str(out), "--format", "markdown,key")[0] == 0
    assert run(capsys, "variant", "--seed", "7", "--out", str(out), "--format", "key")[0] == 0  # the same: fine
    path = out / "key.json"
    data = json.loads(path.read_text())
    del data["key"]["fingerprint"], data["fingerprint"]
    data["key"]["P1.4.choice"] = data["key"]["P1.4.choice"] % 4 + 1
    path.write_text(json.dumps(data, indent=2) + "\n")
    OutputDir(out).record("key.json")  # as the earlier dlexam would have: its own file
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, stdout, err = run(capsys, "variant", "--seed", "7", "--out", str(out), "--format", "markdown")
    assert code == 2 and stdout == "" and err.count("\n") == 1
    assert err.startswith(f"dlexam: error: --out {out} holds variant 7 (standard) as another dlexam drew it (its "
                          "key differs at P1.4.choice)")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert run(capsys, "variant", "--seed", "7", "--out", str(out), "--force")[0] == 0
    assert json.loads(path.read_text())["key"]["P1.4.choice"] != data["key"]["P1.4.choice"]


def test_grading_against_a_saved_key(capsys, tmp_path):
    """`grade --key KEY.json`: the score --variant gives where the key is today's, and the old exam's score where
    the key is a drawing this dlexam no longer makes (here: one keyed answer changed, no fingerprint)."""
    out = tmp_path / "v7"
    assert run(capsys, "variant", "--seed", "7", "--out", str(out), "--format", "key")[0] == 0
    data = json.loads((out / "key.json").read_text())
    sheet = dict(data["key"])
    sheet["Pr2.2.P"] = [row[:] for row in sheet["Pr2.2.P"]]
    sheet["Pr2.2.P"][0][0] = "1/7"  # one wrong cell
    sheet["Pr2.3.loss"] = "9.5"  # one wrong number
    sheet["P1.4.choice"] = sheet["P1.4.choice"] % 4 + 1  # one wrong option
    (tmp_path / "sheet.json").write_text(json.dumps(sheet))
    graded = []
    for how in (["--variant", "7"], ["--key", str(out / "key.json")]):
        code, text, err = run(capsys, "grade", *how, str(tmp_path / "sheet.json"), "--json")
        assert code == 0, err
        g = json.loads(text)
        graded.append((g["score_exact"], g["max_score"], g["fields"]))
    # the same marks, not full ones, and every mistake explained alike: the saved key keeps the reasons
    assert graded[0] == graded[1] and graded[0][0] != f"{graded[0][1]:g}"
    wrong = {w["where"]: w["reason"] for f in graded[1][2] for w in f["wrong"]}
    assert len(wrong) == 3 and {"Pr2.3.loss", "P1.4.choice"} < set(wrong) and all(wrong.values()), wrong

    old = json.loads(json.dumps(data))  # seed 7 as another dlexam drew it
    del old["fingerprint"], old["key"]["fingerprint"]
    old["fields"]["P1.4.choice"]["answer"] = old["key"]["P1.4.choice"] = old["key"]["P1.4.choice"] % 4 + 1
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "old-sheet.json").write_text(json.dumps(old["key"]))
    code, text, _ = run(capsys, "grade", "--key", str(tmp_path / "old.json"), str(tmp_path / "old-sheet.json"),
                        "--json")
    g = json.loads(text)
    assert code == 0 and g["score"] == g["max_score"]  # the sheet answers the exam it was given
    code, text, _ = run(capsys, "grade", "--variant", "7", str(tmp_path / "old-sheet.json"), "--json")
    assert code == 0 and json.loads(text)["score"] < g["max_score"]  # today's drawing marks that answer wrong


def test_the_help_of_grade_key_says_a_saved_key_explains_mistakes(capsys):
    """Since key.json keeps the grader's reasons (2026-12-06), `grade --key` shows each wrong answer with its reason
    (above); its --help still said "without the reasons" until the 2026-12-07 docs audit."""
    assert main(["grade", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    key = text[text.index("--key KEY.json grade"):text.index("--json print")]
    assert "with the right ones and why" in key and "without the reasons" not in key, key


def test_a_saved_key_keeps_each_share_exactly(tmp_path):
    """key.json writes each field's share of its question's points exactly ("2/5"), and `grade --key` reads that,
    not the float: a share of 1/1009 (beyond the float's old reading, fractions up to 1/1000) comes back 1/1009.
    A key.json written before `share` existed is still read from its floats."""
    from dlexam.variants import make_variant
    from dlexam.variants.saved import read_key

    variant = make_variant(7)
    data = variant.to_json()
    saved = read_key(json.dumps(data).encode())
    expected = {q.answer_id(f): f.points for q in variant.questions for f in q.fields}
    assert {aid: f.points for aid, (_, f) in saved.fields().items()} == expected
    assert Fraction(2, 5) in expected.values()  # Pr2.1 and Pr2.3 split 2 : 3

    aid = next(iter(data["fields"]))
    data["fields"][aid] |= {"points": 1 / 1009, "share": "1/1009"}
    assert read_key(json.dumps(data).encode()).fields()[aid][1].points == Fraction(1, 1009)
    for f in data["fields"].values():
        del f["share"]
    older = read_key(json.dumps(data).encode()).fields()
    assert all(older[a][1].points == p for a, p in expected.items() if a != aid)


@pytest.mark.parametrize("content, needle", [
    (b"not json", "not UTF-8 JSON"), (b"[]", "not a key.json"), (b'{"seed": 1}', "not a key.json"),
    (b'{"seed": 1, "difficulty": "standard", "fields": {"P1.1.choice": {"question": "P1.1", "kind": "choice", '
     b'"points": 1.0, "answer": 9, "options": ["a", "b"]}}, "points": {"P1.1": 4}}', "option 9 of 2"),
    (b'{"seed": 1, "difficulty": "standard", "fields": {"P1.1.choice": {"question": "P1.1", "kind": "choice", '
     b'"points": 1.0, "share": "1/2", "answer": 1, "options": ["a", "b"]}}, "points": {"P1.1": 4}}',
     "share of points 1/2 that is not its points' 1.0"),
    (b'{"seed": 1, "difficulty": "standard", "fields": {"P1.1.choice": {"question": "P1.1", "kind": "choice", '
     b'"points": 1.0, "share": "one", "answer": 1, "options": ["a", "b"]}}, "points": {"P1.1": 4}}',
     "share of points 'one'"),
    (b'{"seed": 1, "difficulty": "standard", "fields": {"P1.1.choice": {"question": "P1.1", "kind": "choice", '
     b'"points": 1.0, "answer": 1, "options": ["a", "b"], "cell_reasons": [["x"]]}}, "points": {"P1.1": 4}}',
     "cell reasons that are not its matrix's shape"),
    (b'{"seed": 1, "difficulty": "standard", "fields": {"P1.1.choice": {"question": "P1.1", "kind": "choice", '
     b'"points": 1.0, "answer": 1, "options": ["a", "b"], "option_reasons": ["x"]}}, "points": {"P1.1": 4}}',
     "1 option reasons for 2 options"),
])
def test_a_bad_key_file_is_one_line(capsys, tmp_path, content, needle):
    (tmp_path / "k.json").write_bytes(content)
    (tmp_path / "s.csv").write_text("P1.1.choice,1\n")
    code, out, err = run(capsys, "grade", "--key", str(tmp_path / "k.json"), str(tmp_path / "s.csv"))
    assert code == 2 and out == "" and err.count("\n") == 1 and needle in err, err
    code, _, err = run(capsys, "grade", str(tmp_path / "s.csv"))  # neither --variant nor --key
    assert code == 2 and "--variant N, or --key KEY.json" in err


def test_variant_out_counts_the_files_it_wrote_in_words(capsys, tmp_path):
    code, text, _ = run(capsys, "variant", "--seed", "2", "--out", str(tmp_path / "k"), "--format", "key")
    assert code == 0 and "wrote 1 file to " in text  # not "1 files"
    code, text, _ = run(capsys, "variant", "--seed", "2", "--out", str(tmp_path / "m"), "--format", "markdown")
    assert code == 0 and "wrote 2 files to " in text  # exam.md and solution.md
