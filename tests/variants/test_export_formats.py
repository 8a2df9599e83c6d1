"""The exports against the formats' own definitions, not only read back by dlexam's tests.

Oracles (each written here from facts read in the format's source, in this file's own words; none is copied):

- PrairieLearn: its JSON schemas for info.json, infoAssessment.json and infoCourseInstance.json
  (apps/prairielearn/src/schemas/schemas/, PrairieLearn/PrairieLearn at commit
  88fb8556a7a1768e2082736be9095241b11238d7). They are AGPL-licensed, so they are not vendored: the facts that bind
  what dlexam writes (required keys, the keys allowed where the schema allows no others, enums, types, the UUID
  pattern, points as numbers >= 0) are restated below as a JSON Schema and checked with `jsonschema`.
- Canvas QTI 1.2: the content models and required attributes of IMS QTI ASI 1.2.1 (ims_qtiasiv1p2p1.dtd, the
  DTD the XSD ims_qtiasiv1p2p1.xsd binds) for the elements dlexam writes, and IMS Content Packaging 1.1.3
  (imscp_v1p1.xsd) for the manifest. No copy with a licence that allows vendoring was found (the DTD read here is
  redistributed without one in swl10/pyslet's unittests/data_imsqtiv1p2p1/ at b30e9a4; imscp_v1p1.xsd in an
  unlicensed repository), so the rules are restated as regular expressions over each element's children.
- Moodle XML: what question/format/xml/format.php's importer reads for each question type dlexam writes
  (import_multichoice, import_numerical, import_essay, import_multianswer), the grade fractions Moodle offers
  (question_bank::fraction_options_full in question/engine/bank.php) and the cloze syntax of
  qtype_multianswer_extract_question (question/type/multianswer/questiontype.php): a gap is {weight:NUMERICAL:...},
  '=' marks an answer worth 100%, and a numerical alternative is a number with an optional ':tolerance'.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction

import jsonschema
import pytest

from dlexam.variants import exports, make_variant
from dlexam.variants.exports.moodle import decimal

VARIANTS = [(0, "standard"), (1, "standard"), (7, "standard"), (3, "harder")]


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda p: f"{p[1]}-{p[0]}")
def variant(request):
    return make_variant(*request.param)


# --- PrairieLearn (facts of its schemas at 88fb855) ---------------------------------------------------------------

UUID = {"type": "string", "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"}
POINTS = {"type": "number", "minimum": 0}
QUESTION_KEYS = ["comment", "uuid", "type", "title", "topic", "tags", "authors", "clientFiles", "clientTemplates",
                 "template", "gradingMethod", "singleVariant", "showCorrectAnswer", "partialCredit", "options",
                 "externalGradingOptions", "dependencies", "workspaceOptions", "sharingSets", "sharePublicly",
                 "shareSourcePublicly", "preferences"]
INFO_QUESTION = {
    "type": "object", "required": ["uuid", "type", "title", "topic"], "additionalProperties": False,
    "properties": {**{k: {} for k in QUESTION_KEYS}, "uuid": UUID, "title": {"type": "string"},
                   "topic": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                   "type": {"enum": ["Calculation", "MultipleChoice", "Checkbox", "File", "MultipleTrueFalse", "v3"]},
                   "gradingMethod": {"enum": ["Internal", "External", "Manual"]},
                   "singleVariant": {"type": "boolean"}, "partialCredit": {"type": "boolean"}}}
ASSESSMENT_KEYS = ["comment", "uuid", "type", "title", "set", "number", "allowIssueReporting", "multipleInstance",
                   "shuffleQuestions", "allowAccess", "accessControl", "text", "maxPoints", "maxBonusPoints",
                   "allowPersonalNotes", "autoClose", "zones", "constantQuestionValue", "allowRealTimeGrading",
                   "requireHonorCode", "honorCode", "showQuestionTitles", "groupWork", "groupMaxSize",
                   "groupMinSize", "groupRoles", "canSubmit", "canView", "studentGroupCreate",
                   "studentGroupChooseName", "studentGroupJoin", "studentGroupLeave", "groups", "advanceScorePerc",
                   "gradeRateMinutes", "module", "shareSourcePublicly", "tools"]
SLOT_KEYS = ["points", "autoPoints", "maxPoints", "maxAutoPoints", "manualPoints", "comment", "id", "forceMaxPoints",
             "alternatives", "numberChoose", "triesPerVariant", "advanceScorePerc", "gradeRateMinutes",
             "allowRealTimeGrading", "canSubmit", "canView", "preferences"]
INFO_ASSESSMENT = {
    "type": "object", "required": ["uuid", "type", "title", "set", "number"], "additionalProperties": False,
    "properties": {**{k: {} for k in ASSESSMENT_KEYS}, "uuid": UUID, "type": {"enum": ["Homework", "Exam"]},
                   "title": {"type": "string"}, "set": {"type": "string"}, "number": {"type": "string"},
                   "shuffleQuestions": {"type": "boolean"},
                   "zones": {"type": "array", "items": {
                       "type": "object", "required": ["questions"],
                       "properties": {"title": {"type": "string"}, "questions": {"type": "array", "items": {
                           "type": "object", "additionalProperties": False,  # the keys a slot may have, and
                           "properties": {**{k: {} for k in SLOT_KEYS}, "id": {"type": "string"},  # (dlexam's)
                                          "autoPoints": POINTS, "manualPoints": POINTS, "points": POINTS}}}}}}}}
COURSE_INSTANCE_KEYS = ["comment", "uuid", "longName", "shortName", "timezone", "allowIssueReporting",
                        "selfEnrollment", "hideInEnrollPage", "userRoles", "publishing", "allowAccess",
                        "groupAssessmentsBy", "shareSourcePublicly", "studentLabels"]
INFO_COURSE_INSTANCE = {"type": "object", "required": ["uuid", "longName"], "additionalProperties": False,
                        "properties": {**{k: {} for k in COURSE_INSTANCE_KEYS}, "uuid": UUID,
                                       "longName": {"type": "string"}}}
SCHEMAS = {"info.json": INFO_QUESTION, "infoAssessment.json": INFO_ASSESSMENT,
           "infoCourseInstance.json": INFO_COURSE_INSTANCE}


def test_the_restated_schemas_refuse_what_prairielearn_refuses():
    """The oracle itself: an unknown key, a missing required key, a v2 type misspelt, negative points."""
    good = {"uuid": "0b6a2c8e-1f0e-4a57-9d1c-3a7b1e2f4c5d", "type": "v3", "title": "t", "topic": "x"}
    jsonschema.validate(good, INFO_QUESTION)
    for bad in ({**good, "gradingmethod": "Manual"}, {k: v for k, v in good.items() if k != "topic"},
                {**good, "type": "V3"}, {**good, "uuid": "not-a-uuid"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, INFO_QUESTION)
    slot = {"uuid": good["uuid"], "type": "Exam", "title": "t", "set": "Exam", "number": "1",
            "zones": [{"questions": [{"id": "q", "autoPoints": -1}]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(slot, INFO_ASSESSMENT)


def test_prairielearn_json_files_conform_to_its_schemas(variant):
    files = exports.prairielearn(variant)
    checked = {name: 0 for name in SCHEMAS}
    for path, data in files.items():
        name = path.rsplit("/", 1)[-1]
        if name in SCHEMAS:
            jsonschema.validate(json.loads(data), SCHEMAS[name])
            checked[name] += 1
    # PrairieLearn questions: P1.1, P1.4, P1.6, Problem 1 (Pr1.1-Pr1.4), Problem 2 (Pr2.1-Pr2.4) and Pr2.5
    assert checked == {"info.json": 6, "infoAssessment.json": 1, "infoCourseInstance.json": 1}


# --- QTI 1.2 and IMS Content Packaging (content models read in the DTD and the XSD) --------------------------------

# element -> its children's names as the DTD allows them, for the elements dlexam writes (a regular expression over
# the children's names, each followed by a space; '?' optional, '*' any number, '+' at least one)
QTI_CONTENT = {
    "questestinterop": r"(qticomment )?(objectbank |assessment |((section |item )+))",
    "assessment": r"(qticomment )?(duration )?(qtimetadata )*(objectives )*(assessmentcontrol )*(rubric )*"
                  r"(presentation_material )?(outcomes_processing )*(assessproc_extension )?(assessfeedback )*"
                  r"(selection_ordering )?(reference )?((sectionref |section )+)",
    "section": r"(qticomment )?(duration )?(qtimetadata )*(objectives )*(sectioncontrol )*(sectionprecondition )*"
               r"(sectionpostcondition )*(rubric )*(presentation_material )?(outcomes_processing )*"
               r"(sectionproc_extension )?(sectionfeedback )*(selection_ordering )?(reference )?"
               r"((itemref |item |sectionref |section )*)",
    "item": r"(qticomment )?(duration )?(itemmetadata )?(objectives )*(itemcontrol )*(itemprecondition )*"
            r"(itempostcondition )*((itemrubric |rubric )*)(presentation )?(resprocessing )*(itemproc_extension )?"
            r"(itemfeedback )*(reference )?",
    "itemmetadata": r"(qtimetadata )*(qmd_\w+ )*",
    "qtimetadata": r"(vocabulary )?(qtimetadatafield )+",
    "qtimetadatafield": r"fieldlabel fieldentry ",
    "presentation": r"(qticomment )?(flow |(material |response_lid |response_xy |response_str |response_num "
                    r"|response_grp |response_extension )+)",
    "material": r"(qticomment )?((mattext |matemtext |matimage |mataudio |matvideo |matapplet |matapplication "
                r"|matref |matbreak |mat_extension )+)(altmaterial )*",
    "response_lid": r"((material |material_ref )?)(render_choice |render_hotspot |render_slider |render_fib "
                    r"|render_extension )((material |material_ref )?)",
    "response_str": r"((material |material_ref )?)(render_choice |render_hotspot |render_slider |render_fib "
                    r"|render_extension )((material |material_ref )?)",
    "render_choice": r"((material |material_ref |response_label |flow_label )*)(response_na )?",
    "render_fib": r"((material |material_ref |response_label |flow_label )*)(response_na )?",
    "response_label": r"((qticomment |material |material_ref |flow_mat )*)",
    "resprocessing": r"(qticomment )?outcomes (respcondition |itemproc_extension )+",
    "outcomes": r"(qticomment )?(decvar (interpretvar )*)+",
    "respcondition": r"(qticomment )?conditionvar (setvar )*(displayfeedback )*(respcond_extension )?",
    "itemfeedback": r"((flow_mat |material |solution |hint )+)",
    "flow_mat": r"(qticomment )?((flow_mat |material |material_ref )+)",
    "conditionvar": r"((not |and |or |unanswered |other |varequal |varlt |varlte |vargt |vargte |varsubset "
                    r"|varinside |varsubstring |durequal |durlt |durlte |durgt |durgte |var_extension )+)",
}
QTI_CONTENT["and"] = QTI_CONTENT["or"] = r"((not |and |or |unanswered |other |varequal |varlt |varlte |vargt " \
                                         r"|vargte |varsubset |varinside |varsubstring |durequal |durlt |durlte " \
                                         r"|durgt |durgte )+)"
TEXT_ONLY = {"fieldlabel", "fieldentry", "mattext", "decvar", "setvar", "varequal", "varlte", "vargte", "other"}
QTI_REQUIRED = {"assessment": {"ident"}, "section": {"ident"}, "item": {"ident"}, "itemfeedback": {"ident"},
                "response_lid": {"ident"},
                "response_str": {"ident"}, "response_label": {"ident"}, "varequal": {"respident"},
                "varlte": {"respident"}, "vargte": {"respident"}}
QTI_ENUMS = {("response_lid", "rcardinality"): {"Single", "Multiple", "Ordered"},
             ("response_str", "rcardinality"): {"Single", "Multiple", "Ordered"},
             ("render_fib", "fibtype"): {"String", "Integer", "Decimal", "Scientific"},
             ("response_label", "rshuffle"): {"Yes", "No"},
             ("decvar", "vartype"): {"Integer", "String", "Decimal", "Scientific", "Boolean", "Enumerated", "Set"},
             ("setvar", "action"): {"Set", "Add", "Subtract", "Multiply", "Divide"},
             ("respcondition", "continue"): {"Yes", "No"}}
CP_CONTENT = {"manifest": r"(metadata )?organizations resources (manifest )*",
              "metadata": r"(schema )?(schemaversion )?", "organizations": r"(organization )*",
              "resources": r"(resource )*", "resource": r"(metadata )?(file )*(dependency )*", "file": r"(metadata )?"}
CP_REQUIRED = {"manifest": {"identifier"}, "resource": {"identifier", "type"}, "file": {"href"}}
NCNAME = re.compile(r"[A-Za-z_][\w.-]*")  # xsd:ID, as the manifest's identifiers are typed


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def content_errors(root: ET.Element, content: dict, required: dict, enums: dict, text_only=frozenset()) -> list:
    errors = []
    for el in root.iter():
        name, kids = local(el.tag), [local(k.tag) for k in el]
        if name in content and not re.fullmatch(content[name], "".join(k + " " for k in kids)):
            errors.append(f"<{name}> holds {kids}")
        if name in text_only and kids:
            errors.append(f"<{name}> holds elements")
        if name not in content and name not in text_only:
            errors.append(f"<{name}> is not an element this check knows")
        errors += [f"<{name}> lacks {a}" for a in required.get(name, ()) if a not in el.attrib]
        errors += [f"<{name} {a}={v!r}>" for (n, a), allowed in enums.items() if n == name
                   for v in [el.get(a)] if v is not None and v not in allowed]
    return errors


def test_the_content_models_refuse_what_the_dtd_refuses():
    """The oracle itself: a resprocessing without a respcondition (what dlexam once wrote for an essay), an item
    with its presentation after its resprocessing, a response_lid without ident, a misspelt cardinality."""
    bad = ET.fromstring('<questestinterop><item ident="a"><resprocessing><outcomes><decvar/></outcomes>'
                        '</resprocessing><presentation><response_lid rcardinality="single"><render_choice/>'
                        '</response_lid></presentation></item></questestinterop>')
    errors = content_errors(bad, QTI_CONTENT, QTI_REQUIRED, QTI_ENUMS, TEXT_ONLY)
    assert any(e.startswith("<item> holds") for e in errors)
    assert any(e.startswith("<resprocessing> holds") for e in errors)
    assert "<response_lid> lacks ident" in errors and "<response_lid rcardinality='single'>" in errors


def test_qti_zip_conforms_to_qti_1_2_and_content_packaging(variant):
    z = zipfile.ZipFile(io.BytesIO(exports.qti_zip(variant)))
    manifest = ET.fromstring(z.read("imsmanifest.xml"))
    assert local(manifest.tag) == "manifest"
    assert content_errors(manifest, CP_CONTENT, CP_REQUIRED, {}, {"schema", "schemaversion"}) == []
    ids = [el.get("identifier") for el in manifest.iter() if el.get("identifier") is not None]
    assert len(ids) == len(set(ids)) and all(NCNAME.fullmatch(i) for i in ids), ids
    hrefs = [el.get("href") for el in manifest.iter() if local(el.tag) == "file"]
    assert hrefs and set(hrefs) <= set(z.namelist())
    for info in z.infolist():  # unzipped, each is a plain file its owner can write and anyone read (was -rw-------)
        assert (info.create_system, info.external_attr >> 16) == (3, 0o100644), (info.filename, info.external_attr)
    for href in hrefs:
        test = ET.fromstring(z.read(href))
        assert local(test.tag) == "questestinterop"
        assert content_errors(test, QTI_CONTENT, QTI_REQUIRED, QTI_ENUMS, TEXT_ONLY) == []
        items = [el.get("ident") for el in test.iter() if local(el.tag) == "item"]
        assert len(items) == len(set(items)) == len(variant.fields())
        for item in test.iter():  # each response's labels are told apart by ident
            if local(item.tag) in ("response_lid", "response_str"):
                labels = [el.get("ident") for el in item.iter() if local(el.tag) == "response_label"]
                assert len(labels) == len(set(labels))


# --- Moodle XML (what its importer reads) --------------------------------------------------------------------------

# question_bank::fraction_options_full: 0, +-1, and +-(p/q for q <= 6, p/10, 1/q for q <= 10, 1/20) to 7 places
FRACTIONS = {Fraction(0), Fraction(1), Fraction(-1)} | {
    s * Fraction(round(Fraction(p, q) * 10**7), 10**7) for s in (1, -1)
    for p, q in [(9, 10), (5, 6), (4, 5), (3, 4), (7, 10), (2, 3), (3, 5), (1, 2), (2, 5), (1, 3), (3, 10), (1, 4),
                 (1, 5), (1, 6), (1, 7), (1, 8), (1, 9), (1, 10), (1, 20)]}
# a number as the cloze parser and the numerical question take one: an optional minus, digits with an optional
# decimal point (or comma), an optional exponent
NUMBER = r"-?(?:[0-9]+[.,]?[0-9]*|[.,][0-9]+)(?:[eE][-+]?[0-9]+)?"
GAP = re.compile(r"\{([0-9]*):(NUMERICAL|NM):=(" + NUMBER + r")(?::(" + NUMBER + r"))?\}")
ANY_GAP = re.compile(r"\{[0-9]*:[A-Z_]+:")
IMPORTED = {"category", "multichoice", "numerical", "essay", "cloze"}  # the types dlexam writes, all imported
NUMBERING = {"abc", "ABCD", "123", "none"}  # multichoice's numbering styles
RESPONSE_FORMATS = {"editor", "editorfilepicker", "plain", "monospaced", "noinline"}


def grade_fraction(answer: ET.Element) -> Fraction:
    """An answer's fraction attribute (percent) as the importer reads it: divided by 100."""
    return Fraction(answer.get("fraction", "0")) / 100


def allowed(fraction: Fraction) -> bool:
    return any(abs(fraction - f) < Fraction(1, 10**6) for f in FRACTIONS)


def test_moodle_xml_is_what_moodles_importer_takes(variant):
    quiz = ET.fromstring(exports.moodle_xml(variant))
    fields = variant.fields()
    keys = {f"dlexam {variant.seed} {aid}": f for aid, (_, f) in fields.items()}
    seen = set()
    for q in quiz.findall("question"):
        kind = q.get("type")
        assert kind in IMPORTED
        if kind == "category":
            assert q.findtext("category/text").startswith("$course$/")
            continue
        name = q.findtext("name/text")
        f = keys[name]
        seen.add(name)
        text = q.find("questiontext")
        assert text.get("format") == "html" and text.findtext("text")
        answers = q.findall("answer")
        assert all(allowed(grade_fraction(a)) for a in answers), name
        if kind == "multichoice":
            assert q.findtext("single") == "true" and q.findtext("answernumbering") in NUMBERING
            assert len(answers) >= 2 and [grade_fraction(a) for a in answers].count(1) == 1
            assert grade_fraction(answers[f.answer - 1]) == 1
        elif kind == "numerical":
            (a,) = answers
            value, tolerance = a.findtext("text"), a.findtext("tolerance")
            assert re.fullmatch(NUMBER, value) and re.fullmatch(NUMBER, tolerance) and grade_fraction(a) == 1
            # the key lies in the range Moodle accepts, answer -/+ tolerance (absolute)
            assert abs(Fraction(value) - Fraction(f.answer)) <= Fraction(tolerance), (name, value, f.answer)
        elif kind == "essay":
            assert q.findtext("responseformat") in RESPONSE_FORMATS and not answers
        else:  # cloze: every gap one the importer extracts, worth 100% at '=', the key within its tolerance
            body = text.findtext("text")
            gaps = GAP.findall(body)
            assert len(ANY_GAP.findall(body)) == len(gaps) == len(f.answer) * len(f.answer[0]), name
            for (weight, _, value, tolerance), key in zip(gaps, [x for row in f.answer for x in row], strict=True):
                assert weight == "1"
                assert abs(Fraction(value) - key) <= Fraction(tolerance or "0"), (name, value, key)
    assert seen == set(keys)


def test_exact_decimals_are_exact_at_any_size():
    """An exact answer keyed with tolerance 0 must be that number: written through a float, 2**53 + 1 and
    123456789.123456789 came out as neighbouring numbers, which Moodle and Canvas would then require instead."""
    for x in (Fraction(2**53 + 1), Fraction(123456789123456789, 10**9), Fraction(-1, 4), Fraction(0),
              Fraction(1, 1024)):
        text, tolerance = decimal(x)
        assert re.fullmatch(NUMBER, text) and tolerance == 0 and Fraction(text) == x, (x, text)
    for x in (Fraction(10**20, 3), Fraction(1, 7), Fraction(-2, 3)):
        text, tolerance = decimal(x)
        assert re.fullmatch(NUMBER, text) and abs(Fraction(text) - x) <= Fraction(repr(tolerance)), (x, text)
