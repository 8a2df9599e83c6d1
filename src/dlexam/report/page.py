"""HTML building blocks of the report: escaping, tables, embedded figures, error boxes, the page.

Everything the page needs is inside it: inline CSS, figures as base64 PNG data URIs, no script,
no external resource. Widths are fluid (images shrink to their box, table cells wrap between words, never inside
one; a table wider than the window scrolls sideways in its own box), so the page reads at any window width without
anything overflowing the page.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dlexam.figures import Drawing

GENERATOR = "dlexam report"  # <meta name="generator">: marks an index.html as ours (safe to replace)


def esc(text: object) -> str:
    """HTML-escape any value's str()."""
    return html.escape(str(text), quote=True)


def fmt_number(x: object, digits: int = 4) -> str:
    """A number for a table cell: ints as they are, floats with `digits` significant digits."""
    if x is None:
        return "-"  # nothing measured (as the command line's tables print it)
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return str(x)
        if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
            return f"{x:.{digits - 1}e}"
        return f"{x:.{digits}g}"
    return str(x)


def png_data_uri(png: bytes) -> str:
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("figure is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels, read from the PNG's IHDR chunk."""
    if not png.startswith(b"\x89PNG\r\n\x1a\n") or png[12:16] != b"IHDR":
        raise ValueError("figure is not a PNG file")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


NARROW_SCREEN = "(max-width: 700px)"  # below this width tables become cards and figures their narrow drawing


def figure(png: bytes | Drawing, caption: str, *, alt: str | None = None, width: int | None = None,
           narrow: bytes | None = None) -> str:
    """An embedded PNG with its caption, shown one image pixel per CSS pixel (or `width` px) at most.

    The figure is as wide as its image, so the caption wraps under the image; in a narrow window
    both shrink to fit. `narrow` is the same figure drawn for a narrow screen (its panels stacked,
    :func:`dlexam.figures.restack`): below 700 px the browser shows that one instead, across the full
    width, near its drawn size. A :class:`~dlexam.figures.Drawing` brings both.
    """
    if isinstance(png, Drawing):
        png, narrow = png.png, png.narrow
    natural, _ = png_size(png)
    shown = min(natural, int(width)) if width else natural
    img = f'<img src="{png_data_uri(png)}" alt="{esc(alt or caption)}">'
    if narrow is not None:
        png_size(narrow)  # a PNG, or a clear error
        img = f'<picture><source media="{NARROW_SCREEN}" srcset="{png_data_uri(narrow)}">{img}</picture>'
    cls = ' class="has-narrow"' if narrow is not None else ""
    return f'<figure{cls} style="width:{shown}px">{img}<figcaption>{keep_numbers(esc(caption))}</figcaption></figure>'


def figure_row(figures: Iterable[str]) -> str:
    """Figures side by side, wrapping onto new lines when the window is narrow."""
    return '<div class="figrow">' + "".join(figures) + "</div>"


def table(rows: Sequence[Sequence[object]], header: Sequence[object] | None = None, *, caption: str = "",
          numeric_digits: int = 4, raw_html_columns: Iterable[int] = (), css_class: str = "") -> str:
    """A table from rows of cells; floats are formatted, everything else escaped.

    Cells of the columns in `raw_html_columns` are inserted as HTML (the caller escapes them).
    """
    raw = set(raw_html_columns)

    def cell(i: int, value: object) -> str:
        if i in raw:
            return str(value)
        return keep_numbers(esc(fmt_number(value, numeric_digits)))

    parts = ['<div class="table-scroll">', f'<table class="{esc(css_class)}">' if css_class else "<table>"]
    if caption:
        parts.append(f"<caption>{prose(caption)}</caption>")
    if header is not None:
        parts.append("<thead><tr>" + "".join(f"<th>{header_text(h)}</th>" for h in header) + "</tr></thead>")
    parts.append("<tbody>")
    labels = [esc(h) for h in header] if header is not None else []
    for row in rows:
        cells = "".join(
            (f'<td data-label="{labels[i]}">' if i < len(labels) else "<td>") + f"{cell(i, v)}</td>"
            for i, v in enumerate(row)
        )
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def header_text(h: object) -> str:
    """A column header escaped, with a break allowed after each "_", "/" and "@" ("factor/block@init" may break
    as "factor/" "block@" "init"): a header breaks there or at a space, never inside a word (the page's CSS)."""
    return re.sub(r"([_/@])", r"\1<wbr>", esc(h))


def any_table(data: object, *, caption: str = "") -> str:
    """A table from the shapes library functions return.

    Accepts a list of dicts (columns = keys in first-seen order), a dict with "columns"/"header"
    and "rows", a list of lists, or a flat dict (two columns: name, value).
    """
    if isinstance(data, Mapping):
        cols = data.get("columns", data.get("header"))
        if "rows" in data:
            rows = data["rows"]
            if rows and isinstance(rows[0], Mapping):
                return any_table(list(rows), caption=caption)
            return table(rows, cols, caption=caption)
        return table([(k, v) for k, v in data.items()], ("name", "value"), caption=caption)
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        rows = list(data)
        if not rows:
            return '<p class="note">(empty table)</p>'
        if all(isinstance(r, Mapping) for r in rows):
            cols: list = []
            for r in rows:
                cols.extend(k for k in r if k not in cols)
            return table([[r.get(c, "") for c in cols] for r in rows], cols, caption=caption)
        return table([r if isinstance(r, Sequence) and not isinstance(r, str) else [r] for r in rows],
                     caption=caption)
    raise TypeError(f"cannot show a {type(data).__name__} as a table")


def verdict_badge(verdict: object) -> str:
    """A verdict ("supported", "agrees", "not supported", "partly supported", ...) in green, red or amber."""
    v = str(verdict)
    low = v.strip().lower()
    if low.startswith(("not", "disagree", "wrong", "refute", "differ", "mismatch", "false", "incorrect")):
        cls = "verdict-disagrees"
    elif low.startswith(("partly", "partial", "inconclusive", "unclear")):
        cls = "verdict-other"
    elif low.startswith(("support", "agree", "correct", "match", "ok", "confirm", "true")):
        cls = "verdict-agrees"
    else:
        cls = "verdict-other"
    return f'<span class="verdict {cls}">{esc(v)}</span>'


_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_EXPONENT_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?[eE][-+]\d+(?![\w.])")


def keep_numbers(escaped: str) -> str:
    """Escaped text whose numbers in e-notation ("1.250e-04") are each kept on one line: a browser breaks a line
    after a hyphen-minus, and a table cell or sentence read "1.250e-" / "04" (an audit, 2026-12-07)."""
    return _EXPONENT_NUMBER.sub(r'<span class="nobr">\g<0></span>', escaped)


def prose(text: str) -> str:
    """Escaped text whose `backticked` spans (commands, file names) become <code>, numbers in e-notation kept whole."""
    return keep_numbers(_CODE_SPAN.sub(r"<code>\1</code>", esc(text)))


def paragraph(text: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<p{c}>{prose(text)}</p>"


def error_box(what: str, error: BaseException | str, detail: str = "") -> str:
    """The visible box that replaces a section (or part of one) whose dependency failed."""
    msg = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    det = f"<pre>{esc(detail)}</pre>" if detail else ""
    return (
        f'<div class="error-box" role="alert"><strong>{esc(what)} failed.</strong> '
        f'<code class="error-message">{esc(msg)}</code>{det}</div>'
    )


@dataclass
class RenderedSection:
    """One finished section: its anchor id, title, HTML body, and the error that broke it (if any)."""

    id: str
    title: str
    body: str
    error: str | None = None
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


CSS = """
:root { --fg:#1d232a; --muted:#5b6570; --line:#d8dde3; --accent:#2457a6; --bg:#ffffff; --soft:#f4f6f8; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; }
h1 { font-size: 1.9rem; margin: 0.5rem 0 0.25rem; }
h2 { font-size: 1.45rem; margin: 2.5rem 0 0.5rem; padding-top: 0.75rem; border-top: 2px solid var(--line); }
h3 { font-size: 1.15rem; margin: 1.5rem 0 0.4rem; }
p, li { overflow-wrap: anywhere; }
.lead { color: var(--muted); margin-top: 0; }
.note { color: var(--muted); font-size: 0.92rem; }
nav.toc { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 0.75rem 1.25rem; margin: 1rem 0 1.5rem; }
nav.toc ol { margin: 0.25rem 0; padding-left: 1.5rem; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
nav.toc .status-error { color: #a11; font-weight: 600; }
section { min-width: 0; }
table { border-collapse: collapse; margin: 0.75rem 0; font-size: 0.9rem; max-width: 100%; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: 0.88rem;
  padding-bottom: 0.25rem; }
.table-scroll { max-width: 100%; overflow-x: auto; }  /* a table wider than the window scrolls sideways */
th, td { border: 1px solid var(--line); padding: 0.3rem 0.55rem; text-align: left; vertical-align: top;
  overflow-wrap: break-word; }  /* a value or header is never broken inside a word or number ("0.77" / "6") */
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.key td:nth-child(1) { white-space: nowrap; }
table.key td:nth-child(2), table.key td:nth-child(3) { min-width: 8rem; }
.verdict { white-space: nowrap; overflow-wrap: normal; }
.nobr { white-space: nowrap; }  /* a number in e-notation: never "1.250e-" / "04" */
.math i { font-family: "Times New Roman", "DejaVu Serif", serif; }  /* the exam's variables (latex.py) */
.math .radicand { border-top: 1px solid currentColor; padding-top: 1px; }  /* a square root's bar */
@media (max-width: 700px) {  /* a narrow window: every table's rows become stacked cards, "header: value" */
  table:has(thead) thead { display: none; }
  table:has(thead), table:has(thead) tbody, table:has(thead) tr, table:has(thead) td {
    display: block; width: 100%; min-width: 0; }
  table:has(thead) caption { display: block; }
  table:has(thead) tr { border: 1px solid var(--line); border-radius: 4px; margin-bottom: 0.6rem; }
  table:has(thead) td { border: none; padding: 0.2rem 0.55rem; }
  table:has(thead) td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; }
}
.verdict-agrees { color: #12632a; font-weight: 600; }
.verdict-disagrees { color: #a11; font-weight: 600; }
.verdict-other { color: #8a5a00; font-weight: 600; }
figure { margin: 0.75rem 0; max-width: 100%; }
figure img { display: block; width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 4px; }
figcaption { color: var(--muted); font-size: 0.88rem; margin-top: 0.3rem; }
.figrow { display: flex; flex-wrap: wrap; gap: 0.75rem 1.25rem; align-items: flex-start; }
.figrow figure { flex: 0 1 auto; min-width: 0; margin: 0.75rem 0; }
@media (max-width: 700px) {  /* a figure drawn for narrow screens takes the full width */
  figure.has-narrow, .figrow figure.has-narrow { width: 100% !important; flex: 1 1 100%; }
}
pre, code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.85rem; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 0.6rem 0.8rem;
  white-space: pre-wrap; overflow-wrap: anywhere; }
code { overflow-wrap: anywhere; }
details { margin: 0.5rem 0; }
summary { cursor: pointer; color: var(--accent); }
.claim { border-left: 4px solid var(--accent); background: var(--soft); padding: 0.5rem 0.9rem;
  margin: 0.6rem 0; }
.claim p { margin: 0.25rem 0; }
.error-box { border: 2px solid #c62828; background: #fdecea; color: #5f1111; border-radius: 6px;
  padding: 0.75rem 1rem; margin: 0.75rem 0; overflow-wrap: anywhere; }
.error-box pre { background: #fff6f5; border-color: #f2b8b5; }
footer { color: var(--muted); font-size: 0.85rem; margin-top: 3rem; border-top: 1px solid var(--line);
  padding-top: 0.75rem; }
"""


SUBHEADING = re.compile(r'<h3 id="([^"]+)">(.*?)</h3>')  # subsections with an id get a TOC entry
_ID = re.compile(r'\sid="([^"]+)"')
_IN_PAGE_LINK = re.compile(r'<a href="#([^"]+)">(.*?)</a>', re.S)


def unlink_missing(html: str) -> str:
    """The page with each in-page link whose target it lacks left as its text (the answer key links every
    conceptual question to its experiment, which a report built without that experiment does not hold)."""
    ids = set(_ID.findall(html))
    return _IN_PAGE_LINK.sub(lambda m: m.group(0) if m.group(1) in ids else m.group(2), html)


def render_page(title: str, intro: str, sections: Sequence[RenderedSection], footer: str = "") -> str:
    """The whole page: head with inline CSS, a table of contents, one <section> per section."""
    toc = []
    body = []
    for s in sections:
        status = "ok" if s.ok else "error"
        flag = ' <span class="status-error">(failed)</span>' if not s.ok else ""
        subs = "".join(f'<li><a href="#{sid}">{title}</a></li>' for sid, title in SUBHEADING.findall(s.body))
        subs = f"<ol>{subs}</ol>" if subs else ""
        toc.append(f'<li><a href="#{esc(s.id)}">{esc(s.title)}</a>{flag}{subs}</li>')
        # A section that raised has no body: its error box stands in for it. A section with failed
        # parts keeps its body, which carries an error box where each failed part would be.
        content = s.body or error_box(f"Section “{s.title}”", s.error or "empty section", s.detail)
        body.append(
            f'<section id="{esc(s.id)}" class="report-section" data-status="{status}">'
            f"<h2>{esc(s.title)}</h2>{content}</section>"
        )
    return unlink_missing(
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{GENERATOR}">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        f"<body><main><h1>{esc(title)}</h1>{intro}"
        f'<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>{"".join(toc)}</ol></nav>\n'
        + "\n".join(body)
        + f"<footer>{footer}</footer></main></body></html>\n"
    )
