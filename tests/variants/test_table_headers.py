"""Problem 2's E and W_Q tables head their columns in every document and export as the Markdown does, so that a
student can tell which column is which (2026-12-07 audit: the PDF, Moodle and Canvas tables had no header row), and
by what they index, as every view names them (2026-12-07: E's columns were c1, c2, .. while W_O's, the same model
dimensions, were named by symbol): E's rows are the tokens and its columns the model's dimensions, dimension j named
after the symbol whose row of E is the unit vector e_j; W_Q's rows are those dimensions, its columns a head's (d1,
d2, ..). The oracle: the unit vectors are found here from the spec's E, the head's labels typed here."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from html.parser import HTMLParser

from dlexam.variants import documents, exports, make_variant

V = make_variant(7)
T = V.spec.transformer
UNIT = [next(s for s, row in zip(T.symbols, T.E, strict=False) if list(row) == [int(i == j) for i in range(T.d_model)])
        for j in range(T.d_model)]  # dimension j: the symbol embedded as e_j (the variant's E is one-hot)
E_HEAD = [""] + UNIT  # a corner over E's row labels (its tokens)
WQ_HEAD = [""] + [f"d{j}" for j in range(1, T.d_head + 1)]  # a corner over W_Q's row labels (the dimensions)


class Tables(HTMLParser):
    """caption -> the first row's header cells, for every table in an HTML text."""

    def __init__(self, text: str):
        super().__init__()
        self.found: dict[str, list[str]] = {}
        self._caption = self._cell = None
        self._rows = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._caption, self._rows = "", 0
        elif tag == "caption":
            self._cell = "caption"
        elif tag == "tr":
            self._rows += 1
            if self._rows == 1:
                self.found[self._caption] = []
        elif tag in ("th", "td") and self._rows == 1:
            self._cell = tag
            self.found[self._caption].append("" if tag == "th" else None)

    def handle_endtag(self, tag):
        if tag in ("caption", "th", "td"):
            self._cell = None

    def handle_data(self, data):
        if self._cell == "caption":
            self._caption += data
        elif self._cell == "th":
            self.found[self._caption][-1] += data


def check(text: str) -> None:
    found = Tables(text).found
    (e,) = [h for c, h in found.items() if c.startswith("embedding matrix E (")]
    (wq,) = [h for c, h in found.items() if c.startswith("W_Q")]
    assert e == E_HEAD and wq == WQ_HEAD


def test_moodle_heads_e_and_w_q():
    root = ET.fromstring(exports.moodle_xml(V))  # well-formed XML; the HTML in it escaped text
    texts = [q.find("questiontext/text").text for q in root.findall("question")
             if q.get("type") != "category" and q.find("name/text").text.split()[-1].startswith("Pr2.2")]
    assert texts
    for text in texts:
        check(text)


def test_qti_heads_e_and_w_q():
    z = zipfile.ZipFile(io.BytesIO(exports.qti_zip(V)))
    ns = {"q": "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"}
    test = ET.fromstring(z.read(next(n for n in z.namelist() if n != "imsmanifest.xml")))
    items = [i for i in test.findall(".//q:item", ns) if i.get("title").startswith("Pr2.2")]
    assert items
    for item in items:
        check(item.find("q:presentation/q:material/q:mattext", ns).text)


def test_typst_heads_e_and_w_q():
    src = documents.typst_source(V)
    for caption, head in (("embedding matrix E (", E_HEAD), ("W_Q", WQ_HEAD)):
        line = next(s for s in src.splitlines() if s.startswith("#figure(caption: [" + documents.tym(caption)))
        cols = len(head)
        cells = re.findall(r"\[([^\]]*)\]", line.split("table(", 1)[1])
        assert cells[:cols] == head, line


def test_markdown_heads_them_the_same():
    md = documents.markdown(V)
    lines = md.splitlines()
    e = lines[next(i for i, s in enumerate(lines) if s.startswith("*embedding matrix E (")) + 2]
    assert [c.strip() for c in e.strip("|").split("|")] == E_HEAD


E_APART = ('The symbol E is one of the tokens (a row of the matrix E, and the name of one of its columns); E alone, as '
           'in E^T and "a row of E", is the matrix.')


def test_the_token_e_is_told_apart_from_the_matrix_e():
    """A harder variant's fifth symbol is E, so its setting read "The vocabulary is A, B, C, D, E, ...", a table
    captioned "E (7x5)" with a row E and a column E, and "the symbol whose row of E is that dimension's unit vector":
    a table captioned E beside a token E reads as that token's. The names stay (every printed key uses them); the
    table is captioned "embedding matrix E (7x5)" and the setting says once which E is which, in every document and
    export (the sentence and caption typed here). Harder variant 0's vocabulary is A-E (its printed exam); variant
    7's A-D, which has no token E and no such sentence."""
    harder = make_variant(0, "harder", computed=False)
    assert "E" in harder.spec.transformer.symbols and "E" not in T.symbols
    for v, said in ((harder, True), (V, False)):
        md = documents.markdown(v, esc=documents.as_is)
        assert (E_APART in md) == said
        assert f"*embedding matrix E ({len(v.spec.transformer.vocab)}x{v.spec.transformer.d_model})*" in md
        root = ET.fromstring(exports.moodle_xml(v))
        pr22 = [q.find("questiontext/text").text for q in root.findall("question")
                if q.get("type") != "category" and q.find("name/text").text.split()[-1].startswith("Pr2.2")]
        assert pr22 and all((E_APART.replace('"', "&quot;") in text) == said for text in pr22)
        assert all("<caption>embedding matrix E (" in text for text in pr22)
