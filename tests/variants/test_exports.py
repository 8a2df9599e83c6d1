"""The exports, each parsed back: Moodle XML with moodle-xml-parser (multichoice, cloze) and ElementTree
(numerical, essay), the Canvas QTI 1.2 zip's manifest and items, and the PrairieLearn folders: info.json,
question.html's elements, and server.py's generate()/grade() run in a fresh interpreter without torch."""

from __future__ import annotations

import html
import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction
from html.parser import HTMLParser

import pytest
from moodle_xml_parser.parser import parse_bytes

from dlexam.variants import exports, make_variant
from dlexam.variants.exports.prairielearn import element_name

V = make_variant(1)
FIELDS = V.fields()


def count(kind: str) -> int:
    return sum(f.kind == kind for _, f in FIELDS.values())


def test_moodle_xml_parses_back():
    data = exports.moodle_xml(V)
    parsed = parse_bytes(data)
    assert len(parsed["multichoice"]) == count("choice")
    for q in parsed["multichoice"]:
        aid = q.name.split()[-1]
        (_, f) = FIELDS[aid]
        assert q.single and [o.score_fraction for o in q.options] == [100.0 if i + 1 == f.answer else 0.0
                                                                      for i in range(len(f.options))]
        assert [html.unescape(o.answer) for o in q.options] == list(f.options)  # format="html": escaped text
    assert len(parsed["cloze"]) == count("matrix")
    for q in parsed["cloze"]:
        (_, f) = FIELDS[q.name.split()[-1]]
        gaps = [g for g in q.gaps if g.sub_type == "NUMERICAL"]
        assert len(gaps) == len(f.answer) * len(f.answer[0])
        values = [Fraction(g.options[0].answer.split(":")[0]) for g in gaps]
        cells = [x for r in f.answer for x in r]
        assert all(abs(v - x) <= Fraction(1, 10**5) for v, x in zip(values, cells, strict=True))
    root = ET.fromstring(data)
    numerical = root.findall("question[@type='numerical']")
    assert len(numerical) == count("number")
    for q in numerical:
        (_, f) = FIELDS[q.find("name/text").text.split()[-1]]
        answer = float(q.find("answer/text").text)
        assert abs(answer - float(f.answer)) <= float(q.find("answer/tolerance").text) + 1e-12
    assert any(float(q.find("answer/text").text) == 0 for q in numerical)  # a pooling layer's 0 parameters
    essays = root.findall("question[@type='essay']")
    assert len(essays) == count("essay") and all(q.find("graderinfo/text").text for q in essays)


def test_moodle_feedback_of_a_wrong_option_is_dlexam_grades_reason():
    """Each wrong option's feedback in Moodle is the reason `dlexam grade` gives for picking it (variant 7's P1.4
    option 2, 89 x 66, swaps the 66 x 89 output's rows and columns: tests/variants/test_grade_feedback.py)."""
    from dlexam.variants.grade import grade

    v = make_variant(7)
    choices = ET.fromstring(exports.moodle_xml(v)).findall("question[@type='multichoice']")
    for q in choices:
        aid = q.find("name/text").text.split()[-1]
        (_, f) = v.fields()[aid]
        for k, ans in enumerate(q.findall("answer"), start=1):
            feedback = html.unescape(ans.find("feedback/text").text)  # format="html"
            if k == f.answer:
                assert feedback == "right"
                continue
            (r,) = [r for r in grade(v, {aid: k}).fields if r.id == aid]
            assert feedback == r.wrong[0]["reason"] != "", (aid, k)
    (p14,) = [q for q in choices if q.find("name/text").text == "dlexam 7 P1.4.choice"]
    assert p14.findall("answer")[1].find("feedback/text").text.startswith("it swaps rows and columns: ")


def test_qti_zip():
    z = zipfile.ZipFile(io.BytesIO(exports.qti_zip(V)))
    ns = {"cp": "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1", "q": "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"}
    manifest = ET.fromstring(z.read("imsmanifest.xml"))
    (resource,) = manifest.findall("cp:resources/cp:resource", ns)
    assert resource.get("type") == "imsqti_xmlv1p2"
    test = ET.fromstring(z.read(resource.find("cp:file", ns).get("href")))
    items = test.findall(".//q:item", ns)
    assert len(items) == len(FIELDS)
    kinds = {"choice": "multiple_choice_question", "number": "numerical_question", "essay": "essay_question",
             "matrix": "fill_in_multiple_blanks_question"}
    for item in items:
        aid = item.get("title").split()[0]
        (q, f) = FIELDS[aid]
        meta = {m.find("q:fieldlabel", ns).text: m.find("q:fieldentry", ns).text
                for m in item.findall(".//q:qtimetadatafield", ns)}
        assert meta["question_type"] == kinds[f.kind]
        assert abs(float(meta["points_possible"]) - float(f.points * q.points)) < 1e-3
        if f.kind == "choice":
            assert item.find(".//q:varequal", ns).text == str(f.answer)
        if f.kind == "number":
            lo, hi = float(item.find(".//q:vargte", ns).text), float(item.find(".//q:varlte", ns).text)
            assert lo <= float(f.answer) <= hi
        if f.kind == "matrix":
            blanks = item.findall("q:presentation/q:response_lid", ns)
            assert len(blanks) == len(f.answer) * len(f.answer[0])
    # zeros are answers (text2qti refuses numerical answers below 1e-4; this writer does not)
    assert any(item.find(".//q:varequal", ns) is not None and item.find(".//q:varequal", ns).text == "0"
               for item in items)


@pytest.mark.parametrize("n", [1, 3, 7, 16, 49, 97, 1000])
def test_qti_blank_shares_add_up_to_the_whole_score(n):
    """Each blank of a fill-in matrix adds its share of the score: 49 blanks of 100/49 rounded to 2.040816 totalled
    99.999984, so a whole right matrix was not 100%. Oracle: Fraction sums of the decimal strings."""
    from dlexam.variants.exports.qti import shares

    got = [Fraction(x) for x in shares(n)]
    assert len(got) == n and sum(got) == 100
    assert max(got) - min(got) <= Fraction(1, 10**6)
    assert all(abs(x - Fraction(100, n)) < Fraction(1, 10**6) for x in got)


def test_qti_every_matrix_item_scores_100_when_all_blanks_are_right():
    z = zipfile.ZipFile(io.BytesIO(exports.qti_zip(make_variant(7))))
    ns = {"q": "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"}
    name = next(n for n in z.namelist() if n.endswith(".xml") and n != "imsmanifest.xml")
    items = [i for i in ET.fromstring(z.read(name)).findall(".//q:item", ns)
             if any(m.find("q:fieldentry", ns).text == "fill_in_multiple_blanks_question"
                    for m in i.findall(".//q:qtimetadatafield", ns))]
    assert items
    for item in items:
        first = {}  # each blank's first accepted form (the others score the same)
        for cond in item.findall(".//q:respcondition", ns):
            blank = cond.find(".//q:varequal", ns).get("respident")
            first.setdefault(blank, Fraction(cond.find("q:setvar", ns).text))
        assert sum(first.values()) == 100, item.get("title")


def test_prairielearn_folders():
    files = exports.prairielearn(V)
    infos = {k: json.loads(v) for k, v in files.items() if k.endswith("info.json")}
    assert len(infos) == 6  # P1.1, P1.4, P1.6, Problem 1 (Pr1.1-Pr1.4), Problem 2 (Pr2.1-Pr2.4), Pr2.5
    for info in infos.values():
        assert info["type"] == "v3" and re.fullmatch(r"[0-9a-f-]{36}", info["uuid"]) and info["title"] and info["topic"]
    assert len({i["uuid"] for i in infos.values()}) == len(infos)
    pages = {k: v.decode() for k, v in files.items() if k.endswith("question.html")}
    joined = "".join(pages.values())
    for element in ("pl-matrix-component-input", "pl-number-input", "pl-multiple-choice"):
        assert f"<{element} " in joined
    # Pr2.5 deals only seeds verified with every check (autograd sees gradients the exact checks cannot)
    servers = {k.split("/")[1]: v.decode() for k, v in files.items() if k.endswith("server.py")}
    seeds = re.search(r"^SEEDS = (.*?)  #", servers["dlexam-standard-Pr2-5"], re.M).group(1)
    assert seeds != "None" and len(json.loads(seeds)) >= 20
    assert all("SEEDS = None" in text for name, text in servers.items() if not name.endswith("Pr2-5"))
    for seed in json.loads(seeds)[:5]:
        full, exact = make_variant(seed), make_variant(seed, computed=False)
        assert full.spec == exact.spec


def course(folder, v=V) -> dict[str, bytes]:
    """The PrairieLearn export of `v` written into `folder`, as a course is laid out."""
    files = exports.prairielearn(v)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return files


def without_torch(code: str, folder, *args: str) -> dict:
    """Run `code` in a fresh interpreter in `folder` (the course) and return the JSON it prints; it must import no
    torch (PrairieLearn has none)."""
    p = subprocess.run([sys.executable, "-I", "-c", code, *args], cwd=folder, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    result = json.loads(p.stdout)
    assert not result["torch"]
    return result


def test_prairielearn_server_generates_and_grades_without_torch(tmp_path):
    course(tmp_path)
    code = r'''
import json, random, sys
from fractions import Fraction
sys.path[:0] = ["serverFilesCourse", "questions/dlexam-standard-Pr2"]
import server
out = []
for seed in range(3):
    random.seed(seed)
    data = {"params": {}, "correct_answers": {}, "submitted_answers": {}, "raw_submitted_answers": {},
            "partial_scores": {}}
    server.generate(data)
    weights = {name: w for _, name, _, w in server.FIELDS}
    qs = server.questions(data["params"]["seed"])
    for q in qs:
        for f in q.fields:
            name = server.names(qs)[q.answer_id(f)]
            if f.kind == "matrix":
                for i, r in enumerate(f.answer):
                    for j, x in enumerate(r):
                        data["raw_submitted_answers"][f"{name}{len(r) * i + j + 1}"] = str(x)  # PL's cell names
            elif f.kind == "number":
                data["raw_submitted_answers"][name] = str(round(f.answer, 6))
            elif f.kind == "choice":  # what pl-multiple-choice's grade() writes for the keyed option
                data["partial_scores"][name] = {"score": 1.0, "weight": weights[name]}
            if q.id == "Pr2.2" and f.name == "P":
                cells = len(f.answer) ** 2
    server.grade(data)
    full = data["score"]
    data["raw_submitted_answers"]["Pr2_2_P1"] = "0.999"
    server.grade(data)
    out.append([full, data["partial_scores"]["Pr2_2_P"]["score"], cells, data["params"].get("axes"),
                data["params"]["setting"]])
print(json.dumps({"scores": out, "torch": "torch" in sys.modules}))
'''
    result = without_torch(code, tmp_path)
    page = (tmp_path / "questions/dlexam-standard-Pr2/question.html").read_text()
    for full, partial, cells, axes, text in result["scores"]:
        assert full == 1.0 and partial == (cells - 1) / cells
        # pl-matrix-component-input draws a bare grid (no row or column names: its source at 88fb855), so the page
        # says above each grid what its rows and columns are, as the paper's and Moodle's grids head them: S and P
        # index the positions of the training example the question prints, a row and a column per token
        example = html.unescape(re.search(r"The training example is &quot;(.*?)&quot;", text).group(1)).split()
        positions = ", ".join(f"{k} {token}" for k, token in enumerate(example, start=1))
        for name in ("Pr2_2_S", "Pr2_2_P"):
            assert axes[name] == f"Rows: {positions}. Columns: {positions}.", axes
            above = "{{params.axes." + name + '}}</small></p>\n<pl-matrix-component-input answers-name="' + name + '"'
            assert above in page, name


PL_PR25 = r'''
import json, random, sys
sys.path[:0] = ["serverFilesCourse", "questions/dlexam-standard-Pr2-5"]
import server
out = []
for seed in range(4):
    random.seed(seed)
    data = {"params": {}, "correct_answers": {}, "submitted_answers": {}, "raw_submitted_answers": {},
            "partial_scores": {}}
    server.generate(data)
    choices = data["params"]["choices"]
    out.append({"seed": data["params"]["seed"], **{name: [o["text"] for o in choices[name] if o["correct"]]
                                                   for name in ("Pr2_5_zero", "Pr2_5_softmax")}})
print(json.dumps({"out": out, "torch": "torch" in sys.modules}))
'''


def test_prairielearn_pr25_keys_are_autograds_without_torch(tmp_path):
    """PrairieLearn has no torch: Pr2.5's folder ships, with each seed it deals, the gradients autograd gave at
    export time, and its one correct option per item is the key dlexam computes with torch for that seed."""
    course(tmp_path)
    for row in without_torch(PL_PR25, tmp_path)["out"]:
        f = fields_of(make_variant(row["seed"]))
        assert row["Pr2_5_zero"] == [f["Pr2.5.zero"].options[f["Pr2.5.zero"].answer - 1]]
        assert row["Pr2_5_softmax"] == [f["Pr2.5.softmax"].options[f["Pr2.5.softmax"].answer - 1]]


def fields_of(v):
    return {aid: f for aid, (_, f) in v.fields().items()}


class _ElementWeights(HTMLParser):
    """Each graded PrairieLearn element's answers-name and weight, read from question.html."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: dict[str, int] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("pl-matrix-component-input", "pl-number-input", "pl-multiple-choice"):
            self.weights[a["answers-name"]] = int(a.get("weight", "1"))  # PrairieLearn's default weight is 1


PL_MIXED = r'''
import json, random, sys
from fractions import Fraction
sys.path[:0] = ["serverFilesCourse", "questions/dlexam-standard-" + sys.argv[1]]
import server
weights, cases = json.loads(sys.argv[2]), json.loads(sys.argv[3])
random.seed(5)
data = {"params": {}, "correct_answers": {}, "submitted_answers": {}, "raw_submitted_answers": {}, "partial_scores": {}}
server.generate(data)
qs = server.questions(data["params"]["seed"])
parts = [(server.names(qs)[q.answer_id(f)], f) for q in qs for f in q.fields
         if f.kind != "essay"]
out = []
for case in cases:  # {element name: "right" | "wrong" | "one cell wrong"}, "right" where it is not named
    g = {**data, "submitted_answers": {}, "raw_submitted_answers": {}, "partial_scores": {}}
    cells = {}
    for name, f in parts:
        how = case.get(name, "right")
        if f.kind == "matrix":
            for i, r in enumerate(f.answer):
                for j, x in enumerate(r):
                    wrong = how == "wrong" or (how == "one cell wrong" and i == j == 0)
                    g["raw_submitted_answers"][f"{name}{len(r) * i + j + 1}"] = str(x + 1 if wrong else x)
            cells[name] = len(f.answer) * len(f.answer[0])
            score = 1.0 if how == "right" else 0.0  # the element's own score (by tolerance), which grade() replaces
        elif f.kind == "number":
            g["submitted_answers"][name] = float(f.answer) + (0 if how == "right" else 1)
            score = float(how == "right")
        else:
            g["submitted_answers"][name] = "right" if how == "right" else "wrong"
            score = float(how == "right")
        # what PrairieLearn's element put in partial_scores before server.py's grade() runs
        g["partial_scores"][name] = {"score": score, "weight": weights[name]}
    server.grade(g)
    out.append({"score": g["score"], "cells": cells,
                "weights": {k: v["weight"] for k, v in g["partial_scores"].items()}})
print(json.dumps({"out": out, "torch": "torch" in sys.modules}))
'''


def test_prairielearn_total_weighs_each_part_by_its_points(tmp_path):
    """PrairieLearn's total is the weighted mean of partial_scores (prairielearn.set_weighted_score_data): the
    elements write their question.html weight, grade() its exact scores. Every entry must be on one scale, so a
    right matrix with a wrong loss is worth the matrix's share of the points (variant 7's audit: it was 0.5%). Problem
    2's question holds Pr2.1-Pr2.4: each part keeps its points, out of the 19 graded automatically (Pr2.1's essay, 3
    of its 5, is graded by a person)."""
    files = course(tmp_path)
    # the fields' points as exam.md's answer lines print them (Pr2.1: wise 2 pt; Pr2.2: S 3, P 5; Pr2.3: logits 2,
    # loss 3; Pr2.4: R 2, same 1, loss 1)
    points = {"Pr2_1_wise": 2, "Pr2_2_S": 3, "Pr2_2_P": 5, "Pr2_3_logits": 2, "Pr2_3_loss": 3, "Pr2_4_R": 2,
              "Pr2_4_same": 1, "Pr2_4_loss": 1}
    cases = [{}, {"Pr2_3_loss": "wrong"}, {"Pr2_3_logits": "wrong"}, {"Pr2_3_logits": "one cell wrong"},
             {"Pr2_3_logits": "one cell wrong", "Pr2_3_loss": "wrong"},
             {"Pr2_4_same": "wrong", "Pr2_4_loss": "wrong"}, {"Pr2_4_R": "wrong"},
             {"Pr2_4_R": "one cell wrong", "Pr2_4_loss": "wrong", "Pr2_1_wise": "wrong"},
             {name: "wrong" for name in points}, {"Pr2_2_P": "one cell wrong", "Pr2_2_S": "wrong"}]
    parser = _ElementWeights()
    parser.feed(files["questions/dlexam-standard-Pr2/question.html"].decode())
    weights = parser.weights
    assert set(weights) == set(points)
    result = without_torch(PL_MIXED, tmp_path, "Pr2", json.dumps(weights), json.dumps(cases))
    for case, got in zip(cases, result["out"], strict=True):
        assert got["weights"] == weights  # grade() keeps the elements' scale
        expected = Fraction(0)
        for name, pt in points.items():
            how = case.get(name, "right")
            if how == "right":
                expected += pt
            elif how == "one cell wrong":
                n = got["cells"][name]
                expected += pt * Fraction(n - 1, n)
        assert abs(got["score"] - float(expected / 19)) < 1e-12, (case, got, expected)


HTML_TAGS = {"p", "b", "ul", "li", "table", "caption", "tr", "th", "td"}  # all the exports' HTML uses


class _Html(HTMLParser):
    """The tags of an HTML text and the texts of its table headers (entities decoded, as a browser shows them)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.headers: list[str] = []
        self._in_th = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "th":
            self._in_th = True
            self.headers.append("")

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False

    def handle_data(self, data):
        if self._in_th:
            self.headers[-1] += data


def _answer_grid_headers(text: str) -> list[str]:
    """The header texts of the last table in an HTML text (the answer grid follows the prompt's tables)."""
    return _Html(text[text.rindex("<table>"):]).headers


def test_html_texts_keep_start_and_stop_labels():
    """Every text the exports mark as HTML parses to known tags only, and the answer grids' header cells read
    "<START>" and "<STOP>" (variant 7's audit: Moodle wrote raw <th>4 <START></th>, a tag to a browser)."""
    v = make_variant(7)
    fields = v.fields()
    root = ET.fromstring(exports.moodle_xml(v))
    seen = 0
    for q in root.findall("question"):
        for el in q.iter():
            if el.get("format") == "html" or el.tag == "answer" and q.get("type") == "multichoice":
                text = el.find("text").text or ""
                assert _Html(text).tags <= HTML_TAGS, (q.find("name/text").text, el.tag, text[:200])
        if q.get("type") == "cloze":
            (_, f) = fields[q.find("name/text").text.split()[-1]]
            heads = _answer_grid_headers(q.find("questiontext/text").text)
            corner = [""] if f.row_labels and f.col_labels else []
            assert heads == corner + list(f.col_labels) + list(f.row_labels)
            seen += 1
    assert seen == sum(f.kind == "matrix" for _, f in fields.values())
    # by hand: variant 7's Pr2.3 asks for the logits of each output position, one column per vocabulary token
    (logits,) = [q for q in root.findall("question[@type='cloze']") if q.find("name/text").text.endswith(".logits")]
    heads = _answer_grid_headers(logits.find("questiontext/text").text)
    assert "<START>" in heads and "<STOP>" in heads
    assert any(h.endswith(" <START>") for h in heads)  # a row: "4 <START>"
    z = zipfile.ZipFile(io.BytesIO(exports.qti_zip(v)))
    ns = {"q": "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"}
    test = ET.fromstring(z.read(next(n for n in z.namelist() if n != "imsmanifest.xml")))
    for item in test.findall(".//q:item", ns):
        for mat in item.findall(".//q:mattext[@texttype='text/html']", ns):
            assert _Html(mat.text).tags <= HTML_TAGS, item.get("title")
        if item.get("title").split()[0].endswith(".logits"):
            heads = _answer_grid_headers(item.find("q:presentation/q:material/q:mattext", ns).text)
            assert "<START>" in heads and "<STOP>" in heads



def test_moodle_cloze_is_worth_its_gaps_and_says_the_exams_points():
    """Moodle's import ignores a cloze question's <defaultgrade> and sums its gaps' weights
    (question/type/multianswer/questiontype.php, qtype_multianswer_extract_question): the file says what Moodle will
    use, and a comment before the question gives the exam's points to set as the quiz's maximum mark. Variant 7's
    figures as the audit counted them: (cells, exam points)."""
    expected = {"Pr2.2.S": (49, 3), "Pr2.2.P": (49, 5), "Pr2.3.logits": (18, 2), "Pr2.4.R": (28, 2),
                "Pr1.3.shapes": (12, 6)}
    root = ET.fromstring(exports.moodle_xml(make_variant(7)),
                         parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    children = list(root)
    seen = {}
    for k, q in enumerate(children):
        if q.tag != "question" or q.get("type") != "cloze":
            continue
        aid = q.find("name/text").text.split()[-1]
        gaps = [int(w) for w in re.findall(r"\{(\d+):NUMERICAL:", q.find("questiontext/text").text)]
        comment = children[k - 1]
        assert comment.tag is ET.Comment
        points = int(re.search(r"set its maximum mark in the quiz to (\d+)\.", comment.text).group(1))
        seen[aid] = (len(gaps), points)
        assert float(q.find("defaultgrade").text) == sum(gaps)  # what Moodle's import will make it
    assert seen == expected


def test_qti_number_ranges_are_exact_decimals():
    """Each numerical item's range is its decimal value -/+ its tolerance exactly (Fractions), so a student who
    types a bound is accepted: variant 7's loss 17.007456 -/+ 5e-4 was written vargte 17.006956000000002."""
    ns = {"q": "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"}
    for v in (V, make_variant(7)):
        fields = v.fields()
        z = zipfile.ZipFile(io.BytesIO(exports.qti_zip(v)))
        test = ET.fromstring(z.read(next(n for n in z.namelist() if n != "imsmanifest.xml")))
        ranges = {}
        for item in test.findall(".//q:item", ns):
            (q, f) = fields[item.get("title").split()[0]]
            if f.kind != "number":
                continue
            value = Fraction(item.find(".//q:varequal", ns).text)
            low, high = item.find(".//q:vargte", ns).text, item.find(".//q:varlte", ns).text
            if f.exact:  # a finite decimal exactly, else 6 decimals within 5e-5 (docs/variants.md)
                d = f.answer.denominator
                while d % 2 == 0:
                    d //= 2
                while d % 5 == 0:
                    d //= 5
                tolerance = Fraction(0) if d == 1 else Fraction(5, 100000)
            else:
                tolerance = Fraction(str(f.tolerance))
            assert (Fraction(low), Fraction(high)) == (value - tolerance, value + tolerance), (q.id, f.name, low, high)
            assert abs(value - Fraction(f.answer)) <= tolerance
            ranges[v.seed, q.answer_id(f)] = (float(low), float(high))
    # by hand, from the audit: variant 7's losses accept their bounds as typed and nothing outside
    for aid in ("Pr2.3.loss", "Pr2.4.loss"):
        low, high = ranges[7, aid]
        assert low <= float("17.006956") and float("17.007956") <= high
        assert not low <= float("17.006955") and not float("17.007957") <= high


# What PrairieLearn's elements do, read in its source (PrairieLearn/PrairieLearn at 88fb855,
# apps/prairielearn/elements/): pl-matrix-component-input's parse() reads the input of row i, column j (from 0) of
# an m x n matrix from the name answers-name + str(n * i + j + 1), the cells counted row by row from 1.
PL_CELLS = r'''
import json, random, sys
sys.path[:0] = ["serverFilesCourse", "questions/dlexam-standard-" + sys.argv[1]]
import server
weights = {name: w for _, name, _, w in server.FIELDS}
out = []
for seed in range(3):
    random.seed(seed)
    data = {"params": {}, "correct_answers": {}}
    server.generate(data)
    qs = server.questions(data["params"]["seed"])
    parts = [(server.names(qs)[q.answer_id(f)], f) for q in qs for f in q.fields]
    matrices = [name for name, f in parts if f.kind == "matrix" and name.startswith(sys.argv[2])]
    for wrong in (None, (0, 1)):  # all right; then row 0, column 1 of the question's first matrix wrong
        raw = {}
        for name, f in parts:
            if f.kind == "matrix":
                n = len(f.answer[0])
                for i, r in enumerate(f.answer):
                    for j, x in enumerate(r):
                        bad = name == matrices[0] and (i, j) == wrong
                        raw[name + str(n * i + j + 1)] = str(x + 1 if bad else x)
                if name == matrices[0]:
                    cells = len(f.answer) * n
            elif f.kind == "number":
                raw[name] = str(f.answer if f.exact else round(f.answer, 6))
        g = {**data, "submitted_answers": dict(raw), "raw_submitted_answers": raw,
             "partial_scores": {name: {"score": 1.0, "weight": weights[name]} for name, f in parts
                                if f.kind == "choice"}}
        server.grade(g)
        out.append({name: p["score"] for name, p in g["partial_scores"].items()}
                   | {"first": matrices[0], "cells": cells})
print(json.dumps({"out": out, "torch": "torch" in sys.modules}))
'''


def test_prairielearn_reads_each_matrix_cell_where_pl_matrix_component_input_puts_it(tmp_path):
    """grade() reads a cell's text from the input pl-matrix-component-input gives it (answers-name + its number
    counted row by row from 1: "Pr2_2_S1".."Pr2_2_S49" for 7x7, "Pr2_3_logits1".."Pr2_3_logits18" for 6x3), so an
    all-right matrix scores 1 and one wrong cell costs exactly that cell. It read "S12" for row 1, column 2 (which is
    row 2, column 5 of a 7x7 matrix, from 1) and, for a name no input has, crashed on the parsed matrix (a dict)."""
    course(tmp_path)
    for folder, first in (("Pr2", "Pr2_2_"), ("Pr2", "Pr2_3_"), ("Pr1", "Pr1_3_")):
        rows = without_torch(PL_CELLS, tmp_path, folder, first)["out"]
        for right, one_wrong in zip(rows[::2], rows[1::2], strict=True):
            name, cells = right.pop("first"), right.pop("cells")
            assert set(right.values()) == {1.0}, (folder, right)
            one_wrong.pop("first"), one_wrong.pop("cells")
            assert one_wrong == {**right, name: (cells - 1) / cells}, (folder, one_wrong)


class _Elements(HTMLParser):
    """Every pl-* element of a question.html: (tag, attributes), and the mustache sections that hold options."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.feed(text)
        self.close()
        self.sections = re.findall(r"\{\{#params\.([\w.-]+)\}\}", text)

    def handle_starttag(self, tag, attrs):
        if tag.startswith("pl-"):
            self.elements.append((tag, dict(attrs)))


# The attributes each element takes, from its source at 88fb855, less the deprecated ones: pl-number-input's and
# pl-multiple-choice's schemas/*.json (whose "fixed-order", "inline" and "external-json*" are "deprecated": true,
# docs/elements/pl-multiple-choice.md: 'fixed-order="true"' is now 'order="fixed"'), pl-matrix-component-input's
# and pl-rich-text-editor's prepare() (pl.check_attribs' required and optional lists).
PL_ATTRIBUTES = {
    "pl-number-input": {"allow-blank", "allow-complex", "allow-fractions", "answers-name", "aria-label", "atol",
                        "blank-value", "comparison", "correct-answer", "custom-format", "digits", "display",
                        "initial-value", "label", "placeholder", "rtol", "show-correct-answer", "show-help-text",
                        "show-placeholder", "show-score", "size", "suffix", "weight"},
    "pl-matrix-component-input": {"answers-name", "weight", "label", "aria-label", "suffix", "comparison", "rtol",
                                  "atol", "digits", "allow-partial-credit", "allow-feedback", "allow-fractions",
                                  "rows", "columns", "allow-blank", "blank-value"},
    "pl-multiple-choice": {"all-of-the-above", "all-of-the-above-feedback", "allow-blank", "answers-name",
                           "aria-label", "builtin-grading", "display", "hide-letter-keys", "hide-score-badge",
                           "none-of-the-above", "none-of-the-above-feedback", "number-answers", "order",
                           "placeholder", "size", "weight"},
    "pl-answer": {"correct", "feedback", "score"},
    "pl-rich-text-editor": {"file-name", "quill-theme", "source-file-name", "directory", "placeholder", "format",
                            "markdown-shortcuts", "counter", "min-word-count", "max-word-count", "allow-blank",
                            "clipboard-enabled"},
    "pl-question-panel": set(),
    "pl-answer-panel": set(),
    "pl-submission-panel": set(),
}


def test_prairielearn_question_html_uses_the_elements_current_attributes():
    """Every element and attribute in question.html is one PrairieLearn accepts and has not deprecated, and the
    options keep the exam's order (order="fixed"; it wrote the deprecated fixed-order="true")."""
    for v in (V, make_variant(3, "harder")):
        for name, data in exports.prairielearn(v).items():
            if not name.endswith("question.html"):
                continue
            page = _Elements(data.decode())
            for tag, attrs in page.elements:
                assert tag in PL_ATTRIBUTES and set(attrs) <= PL_ATTRIBUTES[tag], (name, tag, attrs)
                if tag == "pl-multiple-choice":
                    assert attrs["order"] == "fixed", name


# The values of the attributes dlexam writes, as the elements read them at 88fb855: pl-number-input's and
# pl-multiple-choice's schemas/*.json give "weight" the format integer, "rtol" and "atol" the format number,
# "allow-fractions" and "show-help-text" the format boolean, "comparison" the enum relabs/sigfig/decdig and "order"
# random/ascend/descend/fixed; pl-matrix-component-input's prepare() and grade() read the same attributes with
# pl.get_integer_attrib, get_float_attrib, get_boolean_attrib and get_enum_attrib.
PL_VALUES = {"weight": r"\d+", "rtol": r"\d+(\.\d+)?(e-?\d+)?", "atol": r"\d+(\.\d+)?(e-?\d+)?",
             "allow-fractions": r"true|false", "show-help-text": r"true|false",
             "comparison": r"relabs|sigfig|decdig", "order": r"random|ascend|descend|fixed",
             "correct": r"\{\{correct\}\}", "allow-blank": r"true|false",
             "blank-value": r"(-?\d+(\.\d+)?)?"}  # a number, or pl-number-input's "" (docs/elements, 88fb855)


def test_prairielearn_every_graded_element_allows_a_blank():
    """A blank input of an element without allow-blank="true" is a format error, and PrairieLearn grades no
    submission with one (docs/question/server.md at 88fb855): one blank part held back its whole Problem's grading.
    Every element allows a blank now, and pl-number-input's blank stays "" (blank-value=""), not its default 0, so
    the element itself does not credit a blank where the key is 0 (server.py scores it 0 from the raw text)."""
    for v in (V, make_variant(3, "harder")):
        for name, data in exports.prairielearn(v).items():
            if not name.endswith("question.html"):
                continue
            for tag, attrs in _Elements(data.decode()).elements:
                if tag in ("pl-number-input", "pl-matrix-component-input", "pl-multiple-choice",
                           "pl-rich-text-editor"):
                    assert attrs.get("allow-blank") == "true", (name, tag, attrs)
                if tag == "pl-number-input":
                    assert attrs.get("blank-value") == "", (name, attrs)


def test_prairielearn_each_question_names_its_inputs_once_with_values_of_the_elements_types():
    """Within one PrairieLearn question (a Problem's parts together since 2026-12-07) every answers-name is given once
    (pl.check_answers_names, which pl-number-input's and pl-matrix-component-input's prepare() call, raises
    'Duplicate "answers-name"' for a second), and no two inputs of the form share a name: a matrix's cells are its
    answers-name followed by 1 .. rows x columns, which must not be another element's name. Every attribute value
    is of the type the element reads (PL_VALUES), and the weights are the fields' points as whole numbers."""
    for v in (V, make_variant(3), make_variant(3, "harder")):
        shapes = {element_name(q.answer_id(f)): f for q in v.questions for f in q.fields}
        for path, data in exports.prairielearn(v).items():
            if not path.endswith("question.html"):
                continue
            page = _Elements(data.decode())
            named = [a["answers-name"] for _, a in page.elements if "answers-name" in a]
            assert len(named) == len(set(named)) and all(n.strip() for n in named), (path, named)
            inputs = []
            for tag, a in page.elements:
                if tag == "pl-matrix-component-input":
                    f = next(f for n, f in shapes.items() if n == a["answers-name"])
                    inputs += [a["answers-name"] + str(k) for k in range(1, len(f.answer) * len(f.answer[0]) + 1)]
                elif "answers-name" in a:
                    inputs.append(a["answers-name"])
                elif tag == "pl-rich-text-editor":
                    inputs.append(a["file-name"])
                for key, value in a.items():
                    if key in PL_VALUES:
                        assert re.fullmatch(PL_VALUES[key], value), (path, tag, key, value)
            assert len(inputs) == len(set(inputs)), (path, sorted(n for n in inputs if inputs.count(n) > 1))


PL_CONTRACT = r'''
import json, random, sys
sys.path[:0] = ["serverFilesCourse", "questions/" + sys.argv[1]]
import server
weights = json.loads(sys.argv[2])  # answers-name -> weight, as question.html's elements say
out = []
for seed in range(2):
    random.seed(seed)
    data = {"params": {}, "correct_answers": {}}
    server.generate(data)
    qs = server.questions(data["params"]["seed"])
    names = server.names(qs)
    for how in ("key", "blank", "garbage"):
        raw, choices = {}, {}
        for q in qs:
            for f in q.fields:
                n = names[q.answer_id(f)]
                if f.kind == "matrix":
                    c = len(f.answer[0])
                    raw |= {f"{n}{c * i + j + 1}": {"key": str(x), "blank": "", "garbage": "1e999999999"}[how]
                            for i, r in enumerate(f.answer) for j, x in enumerate(r)}
                elif f.kind == "number":
                    raw[n] = {"key": str(f.answer), "blank": "", "garbage": "2_16"}[how]
                elif f.kind == "choice":  # what pl-multiple-choice's grade() writes: score 1 or 0, its weight
                    choices[n] = {"score": float(how == "key"), "weight": weights[n]}
        g = {**data, "submitted_answers": {}, "raw_submitted_answers": raw, "partial_scores": choices}
        server.grade(g)
        out.append({"how": how, "score": g["score"],
                    "partial": {k: [p["score"], p["weight"]] for k, p in g["partial_scores"].items()}})
print(json.dumps({"out": out, "torch": "torch" in sys.modules}))
'''


def test_prairielearn_grade_keeps_partial_scores_to_the_elements_and_score_in_0_1(tmp_path):
    """The grade() contract of PrairieLearn's freeform server (88fb855): partial_scores holds one entry per graded
    element, keyed by its answers-name, with a score in [0, 1] and the element's weight (freeform takes an entry's
    weight, default 1, for the weighted mean); data["score"] is in [0, 1]. For each question of Problems 1 and 2
    and Pr2.5: the key scores 1 in every entry, blank and unreadable text 0, and the keys are question.html's."""
    files = course(tmp_path)
    for folder in ("dlexam-standard-Pr1", "dlexam-standard-Pr2", "dlexam-standard-Pr2-5"):
        page = _Elements(files[f"questions/{folder}/question.html"].decode())
        weights = {a["answers-name"]: int(a["weight"]) for _, a in page.elements if "answers-name" in a}
        assert weights
        for row in without_torch(PL_CONTRACT, tmp_path, folder, json.dumps(weights))["out"]:
            assert set(row["partial"]) == set(weights), (folder, row)
            assert {k: w for k, (_, w) in row["partial"].items()} == weights, (folder, row)
            assert all(0 <= s <= 1 for s, _ in row["partial"].values()) and 0 <= row["score"] <= 1, (folder, row)
            want = 1.0 if row["how"] == "key" else 0.0
            assert row["score"] == want and {s for s, _ in row["partial"].values()} == {want}, (folder, row)


PL_DEALT = r'''
import json, random, sys
sys.path[:0] = ["serverFilesCourse"]
out = {}
for folder in json.loads(sys.argv[1]):
    sys.path.insert(0, "questions/" + folder)
    sys.modules.pop("server", None)
    import server
    dealt = []
    for seed in range(int(sys.argv[2])):
        random.seed(seed)
        data = {"params": {}, "correct_answers": {}}
        server.generate(data)
        qs = server.questions(data["params"]["seed"])
        parts = [(server.names(qs)[q.answer_id(f)], f) for q in qs for f in q.fields]
        dealt.append({"fields": [[name, f.kind] for name, f in parts], "params": sorted(data["params"]),
                      "options": {name: [[o["text"], o["correct"]] for o in data["params"]["choices"][name]]
                                  for name, f in parts if f.kind == "choice"},
                      "keyed": {name: f.options[f.answer - 1] for name, f in parts if f.kind == "choice"}})
    out[folder] = dealt
    sys.path.remove("questions/" + folder)
print(json.dumps({"out": out, "torch": "torch" in sys.modules}))
'''


def test_prairielearn_deals_variants_that_question_html_can_take(tmp_path):
    """What generate() deals fits the folder's question.html, as PrairieLearn's elements need (their source at
    88fb855): each answer field has the element named for it (Pr1.2's by position since 2026-12-07, Pr1_2_layer1 ..:
    named for the exported layers, a variant with the other pooling had inputs with no answer), no
    element's answers-name is a key of params (pl-multiple-choice's prepare() raises "Duplicate params variable
    name" for one: every multiple-choice question failed to load), and the mustache section of each
    pl-multiple-choice lists the dealt options, the keyed one marked correct."""
    for v in (V, make_variant(3)):  # Pr1.2 with average pooling (variant 1) and with max pooling (variant 3)
        folder = tmp_path / str(v.seed)
        files = course(folder, v)
        pages = {k.split("/")[1]: _Elements(data.decode()) for k, data in files.items()
                 if k.endswith("question.html")}
        seeds = {name: 30 if name.endswith("Pr1") else 4 for name in pages}
        dealt = {}
        for n in set(seeds.values()):
            dealt |= without_torch(PL_DEALT, folder, json.dumps([k for k in pages if seeds[k] == n]), str(n))["out"]
        for name, page in pages.items():
            panels = ("pl-question-panel", "pl-answer-panel", "pl-submission-panel", "pl-answer")
            inputs = [(a.get("answers-name") or a["file-name"].removesuffix(".html"), tag)
                      for tag, a in page.elements if tag not in panels]
            kinds = {"pl-number-input": "number", "pl-matrix-component-input": "matrix",
                     "pl-multiple-choice": "choice", "pl-rich-text-editor": "essay"}
            for d in dealt[name]:
                assert [[n, kinds[t]] for n, t in inputs] == d["fields"], (v.seed, name, d["fields"])
                assert not {n for n, t in inputs if t != "pl-rich-text-editor"} & set(d["params"]), (name, d["params"])
                for section in page.sections:
                    assert section.startswith("choices."), section
                for f, options in d["options"].items():
                    assert f"choices.{f}" in page.sections
                    assert [t for t, correct in options if correct] == [d["keyed"][f]]


def test_qti_every_resprocessing_holds_a_respcondition():
    """IMS QTI 1.2 (ims_qtiasiv1p2.dtd, IMS, 22 Jan 2002: <!ELEMENT resprocessing (qticomment?, outcomes,
    (respcondition | itemproc_extension)+)> and <!ELEMENT respcondition (qticomment?, conditionvar, setvar*, ...)>):
    an essay's resprocessing held its outcomes alone, which no validating importer accepts."""
    ns = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
    for v in (V, make_variant(3, "harder")):
        z = zipfile.ZipFile(io.BytesIO(exports.qti_zip(v)))
        test = ET.fromstring(z.read(next(n for n in z.namelist() if n != "imsmanifest.xml")))
        kinds = set()
        for item in test.iter(f"{ns}item"):
            kinds.add(item.find(f".//{ns}fieldentry").text)
            for proc in item.iter(f"{ns}resprocessing"):
                children = [c.tag.removeprefix(ns) for c in proc]
                assert re.fullmatch(r"(qticomment )?outcomes( respcondition)+", " ".join(children)), (
                    item.get("title"), children)
                for cond in proc.iter(f"{ns}respcondition"):
                    assert [c.tag.removeprefix(ns) for c in cond][0] == "conditionvar"
        assert "essay_question" in kinds


class _Rows(HTMLParser):
    """Each table row of an HTML text: its cells' texts (th and td), unescaped."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_moodle_matrix_feedback_is_the_worked_solution():
    """A matrix is a cloze question, and its field has no one-line reason: its general feedback, what a student
    reviews after the attempt, read "see the worked solution", which Moodle does not have. It is now the question's
    worked solution (PrairieLearn's answer panel shows the same). Variant 7's P, worked by hand from its printed
    exam (example D A A <START> A D <STOP>, scores above): <START> ties its 4 visible scores at 0, and A at position 5
    ties positions 2, 3 and 5 at 13."""
    root = ET.fromstring(exports.moodle_xml(make_variant(7, computed=False)))
    clozes = {q.find("name/text").text.split()[-1]: q.find("generalfeedback/text").text
              for q in root.iter("question") if q.get("type") == "cloze"}
    assert set(clozes) == {"Pr1.3.shapes", "Pr2.2.S", "Pr2.2.P", "Pr2.3.logits", "Pr2.4.R"}
    for aid, feedback in clozes.items():
        assert "see the worked solution" not in feedback and "<table>" in feedback, aid
    rows = _Rows(clozes["Pr2.2.P"]).rows
    assert ["4 <START>", "1/4", "1/4", "1/4", "1/4", "0", "0", "0"] in rows
    assert ["5 A", "0", "1/3", "1/3", "0", "1/3", "0", "0"] in rows


def test_qti_items_carry_the_explanation_canvas_shows_after_the_attempt():
    """Canvas keeps an item's <itemfeedback ident="general_fb"> as the question's neutral comments, shown after the
    attempt (instructure/QTIMigrationTool 7847455 turns itemfeedback into modalFeedback; canvas-lms's
    AssessmentItemConverter#get_feedback files an identifier matching /general_/ as :neutral_comments, and each
    interaction's converter calls it). The QTI items had none, where Moodle's questions give the reason or the
    worked solution. Variant 7, worked by hand: P1.4's rows (132 + 2 - 4)/2 + 1 = 66, and P's rows as above."""
    with zipfile.ZipFile(io.BytesIO(exports.qti_zip(make_variant(7, computed=False)))) as z:
        doc = next(n for n in z.namelist() if n.endswith(".xml") and "manifest" not in n)
        root = ET.fromstring(z.read(doc))
    ns = {"q": "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"}
    feedback = {}
    for item in root.iterfind(".//q:item", ns):
        (fb,) = item.findall("q:itemfeedback", ns)
        assert fb.get("ident") == "general_fb"
        feedback[item.get("title").split()[0]] = fb.find("q:flow_mat/q:material/q:mattext", ns).text
    assert len(feedback) == 23 and all(feedback.values())
    assert "(132 + 2 - 4)/2 + 1 = 66" in feedback["P1.4.choice"]
    rows = _Rows(feedback["Pr2.2.P"]).rows
    assert ["4 <START>", "1/4", "1/4", "1/4", "1/4", "0", "0", "0"] in rows


PL_POOLING = r'''
import json, random, re, sys
sys.path[:0] = ["serverFilesCourse", "questions/dlexam-standard-Pr1"]
import server
out = []
for seed in range(int(sys.argv[1])):
    random.seed(seed)
    data = {"params": {}, "correct_answers": {}}
    server.generate(data)
    qs = server.questions(data["params"]["seed"])
    names = server.names(qs) if hasattr(server, "names") else server.NAMES  # NAMES: one map, before 2026-12-07
    raw, layers = {}, {}
    for q in qs:
        for f in q.fields:
            name = names[q.answer_id(f)]
            if q.id == "Pr1.2":
                layers[name] = [f.name, str(f.answer)]
            if f.kind == "matrix":
                n = len(f.answer[0])
                raw |= {f"{name}{n * i + j + 1}": str(x) for i, r in enumerate(f.answer) for j, x in enumerate(r)}
            elif f.kind == "number":
                raw[name] = str(f.answer)
    g = {**data, "submitted_answers": {}, "raw_submitted_answers": raw, "partial_scores": {}}
    server.grade(g)
    out.append({"layers": layers, "labels": data["params"].get("labels"), "prompt": data["params"]["prompts"]["Pr1_2"],
                "correct": {k: data["correct_answers"].get(k) for k in layers}, "score": g["score"],
                "scores": sorted({p["score"] for p in g["partial_scores"].values()}),
                "graded": sorted(g["partial_scores"])})
print(json.dumps({"out": out, "torch": "torch" in sys.modules}))
'''


def test_prairielearn_problem1_deals_both_poolings_and_grades_each(tmp_path):
    """Problem 1's question deals every seed, average pooling and max pooling alike. Pr1.2's elements were named
    after the exported variant's layers (Pr1_2_AvgPool_1 from variant 1), so generate() passed over every draw with
    the other pooling (MaxPool-1 ...): of 30 seeds it dealt none with max pooling. They are named by position now
    (Pr1_2_layer1 ...), each labelled with the dealt layer's name (params.labels): the key of a max-pooling draw as
    typed scores 1, every field and cell of it, and the answer panel's correct answer of each layer is its key."""
    course(tmp_path)  # variant 1: average pooling
    page = _Elements((tmp_path / "questions/dlexam-standard-Pr1/question.html").read_text())
    inputs = {a["answers-name"]: a for tag, a in page.elements if "answers-name" in a}  # numbers and matrices
    rows = without_torch(PL_POOLING, tmp_path, "30")["out"]
    kinds = {tuple(sorted(re.sub(r"-\d$", "", name) for name, _ in r["layers"].values())) for r in rows}
    assert kinds == {("AvgPool", "AvgPool", "Conv", "Conv"), ("Conv", "Conv", "MaxPool", "MaxPool")}
    for r in rows:
        assert r["score"] == 1.0 and r["scores"] == [1.0], r
        # every automatically graded element of question.html is graded, and nothing else
        assert r["graded"] == sorted(inputs), r["graded"]
        for name, (layer, key) in r["layers"].items():
            assert inputs[name]["label"] == "{{params.labels." + name + "}}"
            assert r["labels"][name] == f"{layer} ="
            assert layer in r["prompt"]  # the label names a layer the question's text shows
            assert r["correct"][name] == float(key)
