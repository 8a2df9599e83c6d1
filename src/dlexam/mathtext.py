"""The exam's inline math, readable: the exam's text writes its formulas as LaTeX between dollar signs
(`temp-softmax $_T(z)$`, `$T = \\sqrt{d}$`). :func:`exam_math` writes them as HTML with Unicode symbols and
<sub>/<sup>, so a page needs no script and loads nothing (no MathJax, no CDN); :func:`exam_plain` writes the same
reading as plain text for a terminal (`temp-softmax_T(z)`, `T = √d`, `||w||_∞^2`).

It knows the commands the exam's text uses (every one of /work/shared/exam's, `tests/report/test_latex.py`
checks); a command it does not know is left as written (`\\foo`), visible, never guessed at. The text it is
given is not corrected: where the exam's extraction is garbled (Part 1, question 1 defines
"temp-softmax_T(z) = softmax_T(z)" for softmax(z/T)), the answer key's notes say so.
"""

from __future__ import annotations

import html
import re

SYMBOLS = {  # commands that stand for one symbol
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η", "theta": "θ",
    "lambda": "λ", "mu": "μ", "sigma": "σ", "tau": "τ", "phi": "φ", "Delta": "Δ", "Sigma": "Σ",
    "to": "→", "rightarrow": "→", "leftarrow": "←", "Rightarrow": "⇒", "infty": "∞", "in": "∈",
    "times": "×", "cdot": "·", "odot": "⊙", "forall": "∀", "land": "∧", "lor": "∨", "neq": "≠", "ne": "≠",
    "geq": "≥", "ge": "≥", "leq": "≤", "le": "≤", "approx": "≈", "partial": "∂", "sum": "∑", "mid": "|",
    "dots": "…", "ldots": "…", "cdots": "⋯", "langle": "⟨", "rangle": "⟩", "top": "⊤", "intercal": "⊤",
    "Box": "□", "square": "□", "nabla": "∇", "pm": "±",
    "{": "{", "}": "}", "|": "‖", "#": "#", "%": "%", "_": "_", ",": "\u2009", ";": "\u2002", ":": "\u2005",
    "!": "", "quad": "\u2003", "qquad": "\u2003\u2003", "hfill": " ", "left": "", "right": "",
}
NAMES = ("log", "exp", "max", "min", "lim", "sin", "cos", "tanh", "arg", "det")  # operator names, set upright
DOUBLE_STRUCK = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ", "P": "ℙ", "E": "𝔼"}
SCRIPT = {"D": "𝒟", "L": "ℒ", "N": "𝒩", "X": "𝒳", "Y": "𝒴", "O": "𝒪", "H": "ℋ"}
_INLINE = re.compile(r"\$\$(.+?)\$\$|\$([^$]+?)\$", re.S)


def exam_math(text: str) -> str:
    """`text` quoted from the exam as HTML (escaped): each $...$ (or $$...$$) span of LaTeX written with Unicode
    symbols, <sub>, <sup>, italic variables and bold vectors; the text around the spans escaped as it is (a span that
    opens with a sub- or superscript joined to the word before it). A lone `$` stays a `$`."""
    out, at = [], 0
    for m in _INLINE.finditer(text):
        source = (m.group(1) or m.group(2)).strip()
        before = text[at:m.start()]
        if source.startswith(("_", "^")):  # a sub- or superscript with no base: the word before is its base
            before = before.rstrip(" ")  # ("temp-softmax $_T(z)$", as the exam's extraction writes it)
        out.append(html.escape(before))
        out.append(f'<span class="math">{_Math(source).read()}</span>')
        at = m.end()
    out.append(html.escape(text[at:]))
    return "".join(out)


class _Math:
    """One span of LaTeX, read left to right into HTML."""

    def __init__(self, source: str) -> None:
        self.s, self.i = source, 0

    def read(self, until: str = "") -> str:
        """HTML of the source from here to the end, or to the `until` that closes the group we are in."""
        out = []
        while self.i < len(self.s) and self.s[self.i] != until:
            out.append(self.item())
        self.i += 1 if until else 0  # past the closing brace
        return "".join(out)

    def argument(self) -> str:
        """The next argument: a {group}, a command, or one character (spaces before it skipped)."""
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1
        if self.i >= len(self.s):
            return ""
        if self.s[self.i] == "{":
            self.i += 1
            return self.read("}")
        return self.item()

    def raw_argument(self) -> str:
        """The next argument's source text, unconverted (for \\mathbb{R}, \\text{...})."""
        start = self.i
        self.argument()
        text = self.s[start:self.i]
        return text[1:-1] if text.startswith("{") else text

    def item(self) -> str:
        c = self.s[self.i]
        if c == "\\":
            return self.command()
        self.i += 1
        if c in "_^":
            tag = "sub" if c == "_" else "sup"
            return f"<{tag}>{self.argument()}</{tag}>"
        if c == "{":
            return self.read("}")
        if c.isalpha():
            return f"<i>{c}</i>"
        return html.escape(c)

    def command(self) -> str:
        m = re.compile(r"\\([A-Za-z]+|.)").match(self.s, self.i)
        if m is None:  # a backslash that ends the span
            self.i += 1
            return "\\"
        self.i, name = m.end(), m.group(1)
        if name in SYMBOLS:
            return html.escape(SYMBOLS[name])
        if name in NAMES:
            return name
        if name == "sqrt":
            return f'√<span class="radicand">{self.argument()}</span>'
        if name == "frac":
            top, bottom = self.argument(), self.argument()
            return f"{_grouped(top)}/{_grouped(bottom)}"
        if name in ("boldsymbol", "mathbf", "bm"):
            return f"<b>{self.argument()}</b>"
        if name == "hat":
            return f"{self.argument()}\u0302"
        if name in ("text", "mathrm", "operatorname", "mathsf"):
            return html.escape(self.raw_argument())
        if name == "mathbb":
            raw = self.raw_argument()
            return html.escape("".join(DOUBLE_STRUCK.get(ch, ch) for ch in raw))
        if name == "mathcal":
            raw = self.raw_argument()
            return html.escape("".join(SCRIPT.get(ch, ch) for ch in raw))
        if name == "underbrace":
            return self.argument()  # the brace's label follows as a subscript
        return html.escape(m.group(0))  # a command this reader does not know: as written


def exam_plain(text: str) -> str:
    """`text` quoted from the exam as plain text: :func:`exam_math`'s reading without its markup. A sub- or
    superscript is written `_T` / `^2` (in brackets where it is more than one symbol: `_(y_i=1)`), a square root
    `√d` (`√(d_k)`); bold and italic are dropped."""
    page, done = exam_math(text), None
    while page != done:  # innermost first: a script inside a script or a root (`√(d_k)`, `∑_(y_i=1)`)
        done = page
        page = _INNERMOST_SCRIPT.sub(lambda m: ("_" if m.group(1) == "sub" else "^") + _bracketed(m.group(2)), page)
        page = _INNERMOST_ROOT.sub(lambda m: "√" + _bracketed(m.group(1)), page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


_INNERMOST_SCRIPT = re.compile(r"<(sub|sup)>((?:(?!<su[bp]>|<span).)*?)</\1>", re.S)
_INNERMOST_ROOT = re.compile(r'√<span class="radicand">((?:(?!<su[bp]>|<span).)*?)</span>', re.S)


def _bracketed(part: str) -> str:
    """A script or radicand as text: as it is where it is one symbol, else in brackets."""
    text = html.unescape(re.sub(r"<[^>]+>", "", part))
    return text if len(text) <= 1 or text.isdigit() else f"({text})"


def _grouped(part: str) -> str:
    """A fraction's numerator or denominator, in brackets where it is more than one symbol: (a + b)/2."""
    plain = re.sub(r"<[^>]+>", "", part)
    return part if len(html.unescape(plain)) <= 1 or plain.isdigit() else f"({part})"
