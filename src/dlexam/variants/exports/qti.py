"""A variant as a Canvas quiz: an IMS QTI 1.2 zip (imsmanifest.xml and one assessment), written here.

Written by hand rather than with text2qti: text2qti reads its own Markdown dialect (so each question would be
written twice) and refuses numerical answers below 1e-4 in magnitude, while a variant has exact zeros as
answers (a pooling layer's parameters, a masked attention weight). Numbers are numerical_question items that
accept the exact value or a range around it, keyed and explained as the Moodle export's (exports/decimals.py), for
Canvas's own reading: its quiz page empties a box holding a fraction and saves a typed number rounded to 4 places,
so an exact answer says to type a decimal (DECIMAL_ANSWER), and one with more than 4 places is keyed within 5e-5
of its value (1/32: 0.03125, saved as 0.0313); choices
are multiple_choice_question; essays essay_question; a matrix is a fill_in_multiple_blanks_question with one
blank per cell, accepting the exact fraction ("1/7") and, where it exists, its exact decimal ("0.25"); Canvas
matches a blank's text, not its value, so the question says which forms those are (BLANKS_AS_TEXT).
"""

from __future__ import annotations

import io
import time
import uuid
import xml.etree.ElementTree as ET
import zipfile
from html import escape

from dlexam.spec import text
from dlexam.variants.documents import FILE_DATE, answer_grid, feedback_html, field_html
from dlexam.variants.exports.decimals import CANVAS, decimal, instruction, keyed, terminating
from dlexam.variants.model import Field, Question, Variant
from dlexam.variants.typed import bounds_text

QTI_NS = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
# what a matrix's blanks take, said before its grid: Canvas scores a blank by its text alone (trimmed, lower-cased,
# equal to one of the blank's answers), so of the many ways to write a cell's value only those listed score: 2/4 for
# 1/2, or 0.50, scored nothing, though dlexam grade and the exam's instructions take them
BLANKS_AS_TEXT = ("Canvas compares each blank's text with the key: type a whole number as such (3) and any other "
                  "number as a fraction in lowest terms (1/2, not 2/4 or 1 / 2), or, where it has one, as its "
                  "shortest decimal (1/2 as 0.5, not 0.50).")
CP_NS = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
# what a numerical item with an exact answer says before it is answered: Canvas's quiz page empties a box holding
# "7/2" and saves a number rounded to 4 places (exports/decimals.py), where the exam asks for exact fractions
DECIMAL_ANSWER = instruction(CANVAS, "the answer")



ZIP_EPOCH = 315_532_800  # 1980-01-01 00:00:00 UTC: the earliest time a zip entry can carry

def ident(v: Variant, *parts: str) -> str:
    """A stable identifier (Canvas keys items by ident)."""
    return "i" + uuid.uuid5(uuid.NAMESPACE_URL, "dlexam:" + ":".join((str(v.seed), v.difficulty, *parts))).hex


def _meta(item: ET.Element, kind: str, points: float) -> None:
    meta = ET.SubElement(ET.SubElement(item, "itemmetadata"), "qtimetadata")
    for label, entry in (("question_type", kind), ("points_possible", f"{points:.4f}")):
        fld = ET.SubElement(meta, "qtimetadatafield")
        ET.SubElement(fld, "fieldlabel").text = label
        ET.SubElement(fld, "fieldentry").text = entry


def _material(parent: ET.Element, body: str, kind: str = "text/html") -> None:
    ET.SubElement(ET.SubElement(parent, "material"), "mattext", {"texttype": kind}).text = body


def _processing(item: ET.Element) -> ET.Element:
    proc = ET.SubElement(item, "resprocessing")
    ET.SubElement(ET.SubElement(proc, "outcomes"), "decvar",
                  {"maxvalue": "100", "minvalue": "0", "varname": "SCORE", "vartype": "Decimal"})
    return proc


def _set_score(proc: ET.Element, condition: ET.Element, score: str, action: str = "Set") -> None:
    cond = ET.SubElement(proc, "respcondition", {"continue": "No" if action == "Set" else "Yes"})
    cond.append(condition)
    ET.SubElement(cond, "setvar", {"action": action, "varname": "SCORE"}).text = score


def _typed_response(item: ET.Element, pres: ET.Element, kind: str, points: float, body: str, fib: dict,
                    label: dict) -> None:
    """An item the student answers by typing (a number, an essay): its metadata, text and one typed response."""
    _meta(item, kind, points)
    item.append(pres)
    _material(pres, body)
    render = ET.SubElement(ET.SubElement(pres, "response_str", {"ident": "response1", "rcardinality": "Single"}),
                           "render_fib", fib)
    ET.SubElement(render, "response_label", {"ident": "answer1", **label})


def _feedback(item: ET.Element, body: str) -> None:
    """The item's general feedback, which Canvas keeps as its neutral comments, shown after the attempt
    (QTIMigrationTool makes it a modalFeedback; canvas-lms's AssessmentItemConverter#get_feedback files one named
    /general_/ so)."""
    fb = ET.SubElement(item, "itemfeedback", {"ident": "general_fb"})
    _material(ET.SubElement(fb, "flow_mat"), body)


def _item(section: ET.Element, v: Variant, q: Question, f: Field) -> None:
    aid = q.answer_id(f)
    item = ET.SubElement(section, "item", {"ident": ident(v, aid), "title": f"{aid} {q.title}"})
    points = float(f.points * q.points)
    body = field_html(q, f)
    pres = ET.Element("presentation")
    if f.kind == "choice":
        _meta(item, "multiple_choice_question", points)
        item.append(pres)
        _material(pres, body)
        lid = ET.SubElement(pres, "response_lid", {"ident": "response1", "rcardinality": "Single"})
        choice = ET.SubElement(lid, "render_choice")
        for i, option in enumerate(f.options, start=1):
            _material(ET.SubElement(choice, "response_label", {"ident": str(i)}), option, "text/plain")
        cond = ET.Element("conditionvar")
        ET.SubElement(cond, "varequal", {"respident": "response1"}).text = str(f.answer)
        _set_score(_processing(item), cond, "100")
    elif f.kind == "number":
        said = f"<p>{escape(DECIMAL_ANSWER, quote=False)}</p>" if f.exact else ""  # a loss asks for 4 decimals
        _typed_response(item, pres, "numerical_question", points, body + said, {"fibtype": "Decimal"}, {})
        # Canvas saves 4 places: a key with more is taken within 5e-5 (a loss's tolerance, 5e-4, is wider already)
        value, tolerance = keyed(f, rounds=True)
        cond = ET.Element("conditionvar")
        either = ET.SubElement(cond, "or")
        ET.SubElement(either, "varequal", {"respident": "response1"}).text = value
        both = ET.SubElement(either, "and")
        low, high = bounds_text(value, tolerance)  # typed.bounds: the window dlexam grade scores by
        ET.SubElement(both, "vargte", {"respident": "response1"}).text = low
        ET.SubElement(both, "varlte", {"respident": "response1"}).text = high
        _set_score(_processing(item), cond, "100")
    elif f.kind == "essay":
        _typed_response(item, pres, "essay_question", points, body, {}, {"rshuffle": "No"})
        # QTI 1.2 requires a resprocessing to hold at least one respcondition after its outcomes; an essay, graded
        # by a person, sets no score: its condition is <other/> (any response), as Canvas writes an essay
        cond = ET.Element("conditionvar")
        ET.SubElement(cond, "other")
        ET.SubElement(_processing(item), "respcondition", {"continue": "No"}).append(cond)
    else:
        _meta(item, "fill_in_multiple_blanks_question", points)
        item.append(pres)
        blanks = [(f"r{i + 1}c{j + 1}", x) for i, r in enumerate(f.answer) for j, x in enumerate(r)]
        _material(pres, body + f"<p>{escape(BLANKS_AS_TEXT, quote=False)}</p>"
                  + answer_grid(f, lambda i, j: f"[r{i + 1}c{j + 1}]"))
        proc = _processing(item)
        for (name, x), share in zip(blanks, shares(len(blanks)), strict=True):
            lid = ET.SubElement(pres, "response_lid", {"ident": f"response_{name}"})
            _material(lid, name, "text/plain")
            choice = ET.SubElement(lid, "render_choice")
            accepted = [text(x)] + ([decimal(x)[0]] if terminating(x) and decimal(x)[0] != text(x) else [])
            for k, form in enumerate(accepted):
                _material(ET.SubElement(choice, "response_label", {"ident": f"{name}_{k}"}), form, "text/plain")
                cond = ET.Element("conditionvar")
                ET.SubElement(cond, "varequal", {"respident": f"response_{name}"}).text = f"{name}_{k}"
                _set_score(proc, cond, share, "Add")
    _feedback(item, feedback_html(q, f))  # after resprocessing, as the item's content model orders them


def shares(n: int, total: int = 100, places: int = 6) -> list[str]:
    """`total` split into `n` decimal shares of `places` places that add up to it exactly: 100/49 each
    (2.040816) made 99.999984 in all; here the first 100e6 mod 49 blanks take one millionth more."""
    units = total * 10**places
    base, extra = divmod(units, n)
    return [f"{q // 10**places}.{q % 10**places:0{places}d}" for q in [base + 1] * extra + [base] * (n - extra)]


def assessment(v: Variant) -> bytes:
    root = ET.Element("questestinterop", {"xmlns": QTI_NS})
    test = ET.SubElement(root, "assessment", {"ident": ident(v, "assessment"),
                                              "title": f"dlexam variant {v.seed} ({v.difficulty})"})
    section = ET.SubElement(test, "section", {"ident": "root_section"})
    for q in v.questions:
        for f in q.fields:
            _item(section, v, q, f)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def manifest(v: Variant, href: str) -> bytes:
    root = ET.Element("manifest", {"identifier": ident(v, "manifest"), "xmlns": CP_NS})
    meta = ET.SubElement(root, "metadata")
    ET.SubElement(meta, "schema").text = "IMS Content"
    ET.SubElement(meta, "schemaversion").text = "1.1.3"
    ET.SubElement(root, "organizations")
    res = ET.SubElement(ET.SubElement(root, "resources"), "resource",
                        {"identifier": ident(v, "resource"), "type": "imsqti_xmlv1p2"})
    ET.SubElement(res, "file", {"href": href})
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def qti_zip(v: Variant, timestamp: int = FILE_DATE) -> bytes:
    """The zip Canvas imports (Settings > Import course content > QTI .zip file), its entries dated `timestamp`
    (seconds since 1970-01-01 UTC; a zip dates nothing before 1980, so an earlier time is 1980-01-01)."""
    folder = ident(v, "assessment")
    href = f"{folder}/{folder}.xml"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in (("imsmanifest.xml", manifest(v, href)), (href, assessment(v))):
            info = zipfile.ZipInfo(name, date_time=time.gmtime(max(timestamp, ZIP_EPOCH))[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r-- where unzipped (ZipInfo's own: ---------)
            info.create_system = 3  # Unix: the mode above is read (0, MS-DOS, has none)
            z.writestr(info, data)
    return buf.getvalue()
