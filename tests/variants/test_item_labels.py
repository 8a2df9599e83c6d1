"""Pr2.5 asks two multiple-choice items, (a) and (b), in one question. On paper each label stands above its
options. A learning platform shows one field's options beside the question's text, so the text must say which item
those options answer; the exports used to print the bare labels "(a)" and "(b)" one after the other with no options
under them (Moodle, Canvas QTI, PrairieLearn's params.html), and then options that answer one of them unnamed.

Oracle: the exam's own wording, read here from the Markdown paper: the options printed under "(a)" are the ones the
field answering (a) has, and the Moodle, QTI and PrairieLearn texts of that field must name "(a)" where they ask
for the answer, and show no label without its options."""

from __future__ import annotations

import html
import io
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest

from dlexam.variants import exports, make_variant
from dlexam.variants.documents import markdown

LONE_LABEL = re.compile(r"<p>\s*\([ab]\)\s*</p>")


def paper_items(v) -> dict[str, tuple[str, ...]]:
    """label -> the options printed under it in Pr2.5 of the Markdown exam."""
    text = markdown(v).split("### Pr2.5", 1)[1]
    items = {}
    for label, body in re.findall(r"^\\?\((a|b)\\?\)\n\n((?:\d+\. .*\n)+)", text, re.M):
        items[f"({label})"] = tuple(line.split(". ", 1)[1].replace("\\", "") for line in body.splitlines())
    return items


@pytest.fixture(scope="module", params=[(7, "standard"), (3, "harder")])
def variant(request):
    return make_variant(*request.param)


def answered_item(v, options) -> str:
    items = paper_items(v)
    assert len(items) == 2
    return next(label for label, shown in items.items() if list(shown) == [html.unescape(o) for o in options])


def test_moodle_names_the_item_each_choice_answers(variant):
    root = ET.fromstring(exports.moodle_xml(variant))
    seen = 0
    for q in root.iter("question"):
        name = q.find("name/text")
        if name is None or not name.text.split()[-1].startswith("Pr2.5."):
            continue
        body = q.find("questiontext/text").text
        assert not LONE_LABEL.search(body), body[-300:]
        options = [re.sub(r"<[^>]+>", "", a.find("text").text) for a in q.findall("answer")]
        assert f"<b>Answer {answered_item(variant, options)}:</b>" in body, body[-300:]
        seen += 1
    assert seen == 2


def test_qti_names_the_item_each_choice_answers(variant):
    with zipfile.ZipFile(io.BytesIO(exports.qti_zip(variant))) as z:
        doc = next(n for n in z.namelist() if n.endswith(".xml") and "manifest" not in n)
        root = ET.fromstring(z.read(doc))
    seen = 0
    for item in root.iter():
        if item.tag.rsplit("}", 1)[-1] != "item" or not item.get("title").startswith("Pr2.5."):
            continue
        shown = next(el for el in item if el.tag.rsplit("}", 1)[-1] == "presentation")  # not the item's feedback
        texts = [m.text for m in shown.iter() if m.tag.rsplit("}", 1)[-1] == "mattext"]
        body, options = texts[0], texts[1:]
        assert not LONE_LABEL.search(body), body[-300:]
        assert f"<b>Answer {answered_item(variant, options)}:</b>" in body, body[-300:]
        seen += 1
    assert seen == 2


def test_prairielearn_labels_each_choice_element(variant):
    files = exports.prairielearn(variant)
    page = next(b.decode() for p, b in files.items() if p.endswith("-Pr2-5/question.html"))
    q = variant.question("Pr2.5")
    for f in q.fields:
        label = answered_item(variant, f.options)
        element = f"Pr2_5_{f.name}"  # its answers-name: the answer id Pr2.5.<name>, '.' written '_'
        assert re.search(rf"<p>{re.escape(label)}</p>\s*<pl-multiple-choice answers-name=\"{element}\"", page), page
    from dlexam.variants.documents import html as question_text  # what generate() puts in params
    assert not LONE_LABEL.search(question_text((*q.context, *q.prompt)))


def platform_bodies(variant) -> dict[str, dict[str, str]]:
    """exam question id -> {answer id: the question text a student sees}, from Moodle's XML and from QTI's."""
    out = {"moodle": {}, "qti": {}}
    for q in ET.fromstring(exports.moodle_xml(variant)).iter("question"):
        if q.get("type") != "category":
            out["moodle"][q.find("name/text").text.split()[-1]] = q.find("questiontext/text").text
    with zipfile.ZipFile(io.BytesIO(exports.qti_zip(variant))) as z:
        doc = next(n for n in z.namelist() if n.endswith(".xml") and "manifest" not in n)
        root = ET.fromstring(z.read(doc))
    for item in root.iter():
        if item.tag.rsplit("}", 1)[-1] == "item":
            body = next(m.text for m in item.iter() if m.tag.rsplit("}", 1)[-1] == "mattext")
            out["qti"][item.get("title").split()[0]] = body
    return out


def test_each_platform_question_says_which_answer_it_takes(variant):
    """Moodle and Canvas ask one question per answer field, each with the exam question's whole text (and the question
    names, which hold the answer id, are not shown to students). Pr1.2 asks for the parameters of four layers: its four
    questions were the same text word for word ("Answer: parameters"), so no student could tell which layer each box
    wanted. Each field's text now differs from its question's other fields', and Pr1.2's names its layer (the layers
    as the printed exam lists them)."""
    layers = re.search(r"does each of (.*) have\?", markdown(variant).split("### Pr1.2", 1)[1]).group(1).split(", ")
    assert len(layers) == 4
    for platform, bodies in platform_bodies(variant).items():
        by_question = {}
        for answer_id, body in bodies.items():
            by_question.setdefault(answer_id.rsplit(".", 1)[0], []).append(body)  # Pr1.2.Conv-1 -> Pr1.2
        for qid, texts in by_question.items():
            assert len(set(texts)) == len(texts), (platform, qid)
        for layer in layers:
            answer_line = re.search(r"<p><b>Answer[^<]*</b>[^<]*</p>", bodies[f"Pr1.2.{layer}"]).group(0)
            assert layer in answer_line, (platform, answer_line)


def test_a_platform_choice_asks_to_choose_an_option_not_to_type_its_number(variant):
    """Moodle's multichoice and Canvas's multiple-choice items list their options as buttons; the text above them said
    "Answer: option number", the paper's words for writing the option's number down."""
    choices = {f"{q.id}.{f.name}" for q in variant.questions for f in q.fields if f.kind == "choice"}
    assert choices
    for platform, bodies in platform_bodies(variant).items():
        assert choices <= set(bodies), (platform, sorted(bodies))
        for name in choices:
            answer_line = re.search(r"<p><b>Answer[^<]*</b>[^<]*</p>", bodies[name]).group(0)
            assert answer_line.endswith("</b> choose one of the options below</p>"), (platform, answer_line)
