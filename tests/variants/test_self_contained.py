"""Each of Problem 2's platform questions states the conventions its answer depends on. On paper the questions
follow one another, and the exam said once, in Pr2.2, that attention is argmax (the zero-temperature limit, ties
shared equally) and, in Pr2.3, what the loss is. A learning platform shows each question alone (a Moodle quiz one
question a page; PrairieLearn even draws each question's own variant, so a student's Pr2.3 is not the model of
their Pr2.2): Pr2.3's logits and Pr2.4's R came without a word of argmax, so softmax at T = sqrt(d_head), as
transformers normally attend, was as good a reading, and Pr2.4 (c) and Pr2.5 asked about "the teacher-forcing loss"
and "the loss of Pr2.3" with no definition of it. Since 2026-12-07 both are in Problem 2's setting, which every
question of the problem shows; the paper states each once.

Oracle: the two conventions' words typed here by hand; the question texts read from Moodle's XML, the QTI zip and
PrairieLearn's server.py output as a platform would show them."""

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

import pytest

from dlexam.variants import exports, make_variant
from dlexam.variants.documents import markdown

ARGMAX = "shared equally when several are tied"  # attention's zero-temperature limit and its ties
LOSS = "summed cross-entropy of the tokens after <START>, with teacher forcing"
NEEDS = {"Pr2.2": (ARGMAX,), "Pr2.3": (ARGMAX, LOSS), "Pr2.4": (ARGMAX, LOSS), "Pr2.5": (LOSS,)}


def plain(body: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


@pytest.fixture(scope="module", params=[(7, "standard"), (3, "harder")])
def variant(request):
    return make_variant(*request.param)


def test_moodle_questions_state_what_they_depend_on(variant):
    seen = set()
    for q in ET.fromstring(exports.moodle_xml(variant)).iter("question"):
        name = q.find("name/text")
        qid = name.text.split()[-1].rsplit(".", 1)[0] if name is not None else ""
        if qid in NEEDS:
            body = plain(q.find("questiontext/text").text)
            assert all(words in body for words in NEEDS[qid]), (qid, body[-400:])
            seen.add(qid)
    assert seen == set(NEEDS)


def test_qti_items_state_what_they_depend_on(variant):
    with zipfile.ZipFile(io.BytesIO(exports.qti_zip(variant))) as z:
        doc = next(n for n in z.namelist() if n.endswith(".xml") and "manifest" not in n)
        root = ET.fromstring(z.read(doc))
    seen = set()
    for item in root.iter():
        if item.tag.rsplit("}", 1)[-1] == "item" and (qid := item.get("title").rsplit(".", 1)[0]) in NEEDS:
            body = plain(next(m.text for m in item.iter() if m.tag.rsplit("}", 1)[-1] == "mattext"))
            assert all(words in body for words in NEEDS[qid]), (qid, body[-400:])
            seen.add(qid)
    assert seen == set(NEEDS)


PL_HTML = r'''
import importlib.util, json, random, sys
sys.path[:0] = ["serverFilesCourse"]
out = {}
for k, folder in enumerate(sys.argv[1:]):
    spec = importlib.util.spec_from_file_location(folder.replace("/", "_"), folder + "/server.py")
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)
    random.seed(k + 1)  # PrairieLearn gives each question of an assessment a variant seed of its own
    data = {"params": {}, "correct_answers": {}}
    server.generate(data)
    params = data["params"]
    for qid in getattr(server, "QUESTIONS", None) or (server.QUESTION,):  # the parts the question holds
        if "setting" in params:  # the problem's setting once, each part's own text below it
            setting, text = params["setting"], params["setting"] + params["prompts"][qid.replace(".", "_")]
        else:  # dlexam before 2026-12-07: one folder a question, its setting and its text in params.html
            setting, text = None, params["html"]
        out[qid] = {"folder": folder, "seed": params["seed"], "text": text, "setting": setting,
                    "keys": data["correct_answers"]}
print(json.dumps(out))
'''


def prairielearn_pages(variant, tmp_path) -> dict[str, dict]:
    """exam question id -> what PrairieLearn shows for it: generate() of the folder holding it, each folder with a
    seed of its own (as PrairieLearn deals them), its text (setting and prompt), the seed drawn and the keys."""
    for path, data in exports.prairielearn(variant).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    folders = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("questions/*"))
    p = subprocess.run([sys.executable, "-I", "-c", PL_HTML, *folders], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def pl_pages(variant, tmp_path_factory):
    """prairielearn_pages of the variant, once for the tests below (a course written, every folder generated)."""
    return prairielearn_pages(variant, tmp_path_factory.mktemp("course"))


def test_prairielearn_questions_state_what_they_depend_on(pl_pages):
    """The text as server.py's generate() makes it, for a variant PrairieLearn draws (not the export's seed)."""
    pages = pl_pages
    assert set(NEEDS) <= set(pages)
    for qid, needs in NEEDS.items():
        body = plain(pages[qid]["text"])
        assert all(words in body for words in needs), (qid, body[-400:])


def tables(text: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...], list[list[Fraction]]]]:
    """caption -> (row labels, column labels, values) of each table of an HTML text (documents.html's layout)."""
    out = {}
    for caption, body in re.findall(r"<table><caption>(.*?)</caption>(.*?)</table>", text):
        rows = re.findall(r"<tr>(.*?)</tr>", body)
        cols = tuple(html.unescape(c) for c in re.findall(r"<th>(.*?)</th>", rows[0]))[1:]
        labels = tuple(html.unescape(re.search(r"<th>(.*?)</th>", r).group(1)) for r in rows[1:])
        values = [[Fraction(x) for x in re.findall(r"<td>(.*?)</td>", r)] for r in rows[1:]]
        out[html.unescape(caption)] = (labels, cols, values)
    return out


def times(a, b):
    return [[sum((x * y for x, y in zip(r, c, strict=True)), Fraction(0)) for c in zip(*b, strict=True)] for r in a]


def test_prairielearn_deals_a_problems_parts_one_setting(variant, pl_pages):
    """PrairieLearn gives every question its own variant seed, and a Problem's questions share one setting on paper
    (Pr2.3's logits and Pr2.4's R are computed on the attention Pr2.2 asks for). Exported one folder a question,
    Pr2.2, Pr2.3 and Pr2.4 (and Problem 1's Pr1.1-Pr1.4) showed a student three (four) different models, each with
    its own training example: each part stood alone, and the chain the paper asks for (P, then the logits with it,
    then R) had to be worked out afresh in every part. Each Problem's parts (but Pr2.5, which says it stands alone)
    are now one question: one seed, one setting. Oracle: Pr2.2's S and Pr2.3's logits computed here, in Fractions,
    from the matrices and the example the student is shown (argmax attention with ties shared, as it states)."""
    pages = pl_pages
    for parts in (("Pr1.1", "Pr1.2", "Pr1.3", "Pr1.4"), ("Pr2.1", "Pr2.2", "Pr2.3", "Pr2.4")):
        assert len({pages[qid]["seed"] for qid in parts}) == 1, {qid: pages[qid]["seed"] for qid in parts}
        assert len({pages[qid]["folder"] for qid in parts}) == 1
    assert pages["Pr2.5"]["folder"] != pages["Pr2.2"]["folder"]
    files = exports.prairielearn(variant)
    assert "has a setting of its own here" in plain(files[f"{pages['Pr2.5']['folder']}/question.html"].decode())
    said = plain(files[f"{pages['Pr2.2']['folder']}/question.html"].decode())
    # one setting for the parts, and (autoPoints one number: one graded submission) one grading for all of them
    assert "Parts Pr2.1 to Pr2.4 below are one question here" in said and "graded together, once" in said
    assert "a part you leave blank scores 0, and the others are graded" in said and "answer all of them" not in said
    shown = pages["Pr2.2"]["setting"]
    t = tables(shown)
    vocab, _, E = t[next(c for c in t if c.startswith("embedding matrix E ("))]
    W = t[next(c for c in t if c.startswith("W_Q = W_K = W_V ("))][2]
    W_O = t[next(c for c in t if c.startswith("W_O ("))][2]
    tokens = html.unescape(re.search(r"The training example is &quot;(.*?)&quot;", shown).group(1)).split()
    X = [E[vocab.index(tok)] for tok in tokens]
    Q = times(X, W)  # = K = V
    S = times(Q, [list(c) for c in zip(*Q, strict=True)])
    keys = pages["Pr2.2"]["keys"]
    assert keys["Pr2_2_S"] == [[float(x) for x in r] for r in S]
    P = []
    for i, r in enumerate(S):
        top = max(r[:i + 1])
        tied = [j for j in range(i + 1) if r[j] == top]
        P.append([Fraction(1, len(tied)) if j in tied else Fraction(0) for j in range(len(r))])
    logits = times(times(times(P, Q), W_O), [list(c) for c in zip(*E, strict=True)])
    start = tokens.index("<START>")
    assert keys["Pr2_3_logits"] == [[float(x) for x in r] for r in logits[start:len(tokens) - 1]]


def test_the_paper_states_each_convention_once(variant):
    paper = markdown(variant).replace("\\", "")
    for words in (ARGMAX, LOSS):
        assert paper.count(words) == 1, words


def test_moodle_and_canvas_show_every_question_of_a_problem_one_setting(variant):
    """Moodle and Canvas are given one variant, and each of a Problem's questions opens with the Problem's setting:
    the same text in every question of the Problem, on both platforms (a student answering Pr2.4 on Canvas reads the
    model of Pr2.2, as on paper and as PrairieLearn's one question for the Problem shows it). Neither says what only
    PrairieLearn's pages say (that the parts are one question there, or that Pr2.5 has a setting of its own)."""
    from dlexam.variants.documents import html as html_of

    bodies = {"moodle": {}, "qti": {}}
    for q in ET.fromstring(exports.moodle_xml(variant)).iter("question"):
        if q.get("type") != "category":
            bodies["moodle"][q.find("name/text").text.split()[-1]] = plain(q.find("questiontext/text").text)
    with zipfile.ZipFile(io.BytesIO(exports.qti_zip(variant))) as z:
        doc = next(n for n in z.namelist() if n.endswith(".xml") and "manifest" not in n)
        root = ET.fromstring(z.read(doc))
    for item in root.iter():
        if item.tag.rsplit("}", 1)[-1] == "item":
            bodies["qti"][item.get("title").split()[0]] = plain(
                next(m.text for m in item.iter() if m.tag.rsplit("}", 1)[-1] == "mattext"))
    for problem in ("Pr1.", "Pr2."):
        settings = set()
        for platform, texts in bodies.items():
            for aid, body in texts.items():
                if aid.startswith(problem):
                    q = variant.question(aid.rsplit(".", 1)[0])
                    settings.add(body[:body.index(plain(html_of(q.prompt))[:30])])
                    assert "one question here" not in body and "a setting of its own" not in body, (platform, aid)
        (setting,) = settings
        assert setting.strip() and (problem == "Pr1." or "The training example is" in setting)
