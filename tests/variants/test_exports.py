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

from moodle_xml_parser.parser import parse_bytes

from dlexam.variants import exports, make_variant

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


def test_prairielearn_folders():
    files = exports.prairielearn(V)
    infos = {k: json.loads(v) for k, v in files.items() if k.endswith("info.json")}
    assert len(infos) == len(V.questions)
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
sys.path[:0] = ["serverFilesCourse", "questions/dlexam-standard-Pr2-2"]
import server
out = []
for seed in range(3):
    random.seed(seed)
    data = {"params": {}, "correct_answers": {}, "submitted_answers": {}, "raw_submitted_answers": {},
            "partial_scores": {}}
    server.generate(data)
    q = server.question(data["params"]["seed"])
    for f in q.fields:
        for i, r in enumerate(f.answer):
            for j, x in enumerate(r):
                data["raw_submitted_answers"][f"{f.name}{i + 1}{j + 1}"] = str(x)
    server.grade(data)
    full = data["score"]
    data["raw_submitted_answers"]["P11"] = "0.999"
    data["partial_scores"] = {}
    server.grade(data)
    out.append([full, data["partial_scores"]["P"]["score"], len(q.fields[1].answer) ** 2])
print(json.dumps({"scores": out, "torch": "torch" in sys.modules}))
'''
    result = without_torch(code, tmp_path)
    for full, partial, cells in result["scores"]:
        assert full == 1.0 and partial == (cells - 1) / cells


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
    out.append({"seed": data["params"]["seed"], **{name: [o["text"] for o in data["params"][name] if o["correct"]]
                                                   for name in ("zero", "softmax")}})
print(json.dumps({"out": out, "torch": "torch" in sys.modules}))
'''


def test_prairielearn_pr25_keys_are_autograds_without_torch(tmp_path):
    """PrairieLearn has no torch: Pr2.5's folder ships, with each seed it deals, the gradients autograd gave at
    export time, and its one correct option per item is the key dlexam computes with torch for that seed."""
    course(tmp_path)
    for row in without_torch(PL_PR25, tmp_path)["out"]:
        f = fields_of(make_variant(row["seed"]))
        assert row["zero"] == [f["Pr2.5.zero"].options[f["Pr2.5.zero"].answer - 1]]
        assert row["softmax"] == [f["Pr2.5.softmax"].options[f["Pr2.5.softmax"].answer - 1]]


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
q = server.question(data["params"]["seed"])
out = []
for case in cases:  # {field: "right" | "wrong" | "one cell wrong"}
    g = {**data, "submitted_answers": {}, "raw_submitted_answers": {}, "partial_scores": {}}
    cells = {}
    for f in q.fields:
        how = case[f.name]
        if f.kind == "matrix":
            for i, r in enumerate(f.answer):
                for j, x in enumerate(r):
                    wrong = how == "wrong" or (how == "one cell wrong" and i == j == 0)
                    g["raw_submitted_answers"][f"{f.name}{i + 1}{j + 1}"] = str(x + 1 if wrong else x)
            cells[f.name] = len(f.answer) * len(f.answer[0])
            score = 1.0 if how == "right" else 0.0  # the element's own score (by tolerance), which grade() replaces
        elif f.kind == "number":
            g["submitted_answers"][f.name] = float(f.answer) + (0 if how == "right" else 1)
            score = float(how == "right")
        else:
            g["submitted_answers"][f.name] = "right" if how == "right" else "wrong"
            score = float(how == "right")
        # what PrairieLearn's element put in partial_scores before server.py's grade() runs
        g["partial_scores"][f.name] = {"score": score, "weight": weights[f.name]}
    server.grade(g)
    out.append({"score": g["score"], "cells": cells,
                "weights": {k: v["weight"] for k, v in g["partial_scores"].items()}})
print(json.dumps({"out": out, "torch": "torch" in sys.modules}))
'''


def test_prairielearn_total_weighs_each_part_by_its_points(tmp_path):
    """PrairieLearn's total is the weighted mean of partial_scores (prairielearn.set_weighted_score_data): the
    elements write their question.html weight, grade() its exact scores. Every entry must be on one scale, so a
    right matrix with a wrong loss is worth the matrix's share of the points (variant 7's audit: it was 0.5%)."""
    files = course(tmp_path)
    # the fields' points as exam.md's answer lines print them (Pr2.3: logits 2 pt, loss 3 pt of 5; Pr2.4: R 2,
    # same 1, loss 1 of 4)
    points = {"Pr2-3": {"logits": Fraction(2, 5), "loss": Fraction(3, 5)},
              "Pr2-4": {"R": Fraction(2, 4), "same": Fraction(1, 4), "loss": Fraction(1, 4)}}
    cases = {"Pr2-3": [{"logits": "right", "loss": "wrong"}, {"logits": "wrong", "loss": "right"},
                       {"logits": "one cell wrong", "loss": "right"}, {"logits": "one cell wrong", "loss": "wrong"}],
             "Pr2-4": [{"R": "right", "same": "wrong", "loss": "wrong"},
                       {"R": "wrong", "same": "right", "loss": "right"},
                       {"R": "one cell wrong", "same": "right", "loss": "wrong"},
                       {"R": "one cell wrong", "same": "wrong", "loss": "right"}]}
    for qid, share in points.items():
        parser = _ElementWeights()
        parser.feed(files[f"questions/dlexam-standard-{qid}/question.html"].decode())
        weights = parser.weights
        assert set(weights) == set(share)
        result = without_torch(PL_MIXED, tmp_path, qid, json.dumps(weights), json.dumps(cases[qid]))
        for case, got in zip(cases[qid], result["out"], strict=True):
            assert got["weights"] == weights  # grade() keeps the elements' scale
            expected = Fraction(0)
            for name, how in case.items():
                if how == "right":
                    expected += share[name]
                elif how == "one cell wrong":
                    n = got["cells"][name]
                    expected += share[name] * Fraction(n - 1, n)
            assert abs(got["score"] - float(expected)) < 1e-12, (qid, case, got, expected)


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
