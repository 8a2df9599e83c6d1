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
for folder in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location(folder, folder + "/server.py")
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)
    random.seed(1)
    data = {"params": {}, "correct_answers": {}}
    server.generate(data)
    out[server.QUESTION] = data["params"]["html"]
print(json.dumps(out))
'''


def test_prairielearn_questions_state_what_they_depend_on(variant, tmp_path):
    """params.html as server.py's generate() makes it, for a variant PrairieLearn draws (not the export's seed)."""
    for path, data in exports.prairielearn(variant).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    folders = [str(next(tmp_path.glob(f"questions/*-{qid.replace('.', '-')}")).relative_to(tmp_path)) for qid in NEEDS]
    p = subprocess.run([sys.executable, "-I", "-c", PL_HTML, *folders], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    pages = json.loads(p.stdout)
    assert set(pages) == set(NEEDS)
    for qid, needs in NEEDS.items():
        body = plain(pages[qid])
        assert all(words in body for words in needs), (qid, body[-400:])


def test_the_paper_states_each_convention_once(variant):
    paper = markdown(variant).replace("\\", "")
    for words in (ARGMAX, LOSS):
        assert paper.count(words) == 1, words
