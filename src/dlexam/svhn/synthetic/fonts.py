"""Typefaces for synthetic house numbers: matplotlib's own, plus font packages from PyPI.

The packages are ordinary dependencies of dlexam (pyproject.toml), so `pip install` brings them;
nothing is fetched at run time and no system font is used. Licences: SIL OFL 1.1 (Source Sans
Pro, Source Serif Pro, Lato, Fjalla One, Amatic SC, Intuitive, Fredoka One, Hanken Grotesk,
Manrope; Fjalla One's package declares none, the font is OFL on Google Fonts), Apache 2.0 (Roboto,
Caladea), MIT (the Red Hat Display package, font-rhd).

:func:`scene_fonts` never returns the four typefaces of the held-out synthetic test split
(dlexam.svhn.synthetic.digits.TEST_FONTS), so that split keeps measuring unseen fonts.
"""

from __future__ import annotations

import importlib.resources
from functools import lru_cache

from dlexam.svhn.synthetic.digits import TEST_FONTS, TRAIN_FONTS, font_dir

# (import name, what it adds); each package keeps its font files in <package>/files/
FONT_PACKAGES = (
    ("font_roboto", "Roboto: grotesque sans of signs and screens, 6 weights, upright and italic"),
    ("font_source_sans_pro", "Source Sans Pro: humanist sans, 6 weights, upright and italic"),
    ("font_source_serif_pro", "Source Serif Pro: transitional serif, 6 weights, upright and italic"),
    ("font_lato", "Lato: rounded humanist sans, 5 weights, upright and italic"),
    ("font_fjallaone", "Fjalla One: condensed display sans, as on narrow plates"),
    ("font_amatic_sc", "Amatic SC: hand-drawn, very narrow strokes"),
    ("font_intuitive", "Intuitive: hand-drawn"),
    ("font_fredoka_one", "Fredoka One: round, heavy display face"),
    ("font_caladea", "Caladea: serif, regular, bold and their italics"),
    ("font_hanken_grotesk", "Hanken Grotesk: geometric sans, 5 weights, upright and italic"),
    ("font_manrope", "Manrope: modern sans, 7 weights"),
    ("font_rhd", "Red Hat Display: display sans, 7 weights, upright and italic"),
)


def _has_digits(path: str) -> bool:
    from fontTools.ttLib import TTFont

    try:
        cmap = TTFont(path, lazy=True).getBestCmap() or {}
    except Exception:  # noqa: BLE001 - an unreadable font file is simply not used
        return False
    return all(ord(c) in cmap for c in "0123456789")


@lru_cache(maxsize=1)
def package_fonts() -> tuple[str, ...]:
    """Paths of the installed packages' fonts that have all ten digits (TrueType where a family ships
    both TrueType and OpenType-CFF copies; variable fonts skipped, their named weights are there)."""
    paths = []
    for module, _ in FONT_PACKAGES:
        try:
            folder = importlib.resources.files(module) / "files"
            names = sorted(p.name for p in folder.iterdir())
        except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
            continue  # a package that is not installed adds nothing
        ttf = {n.rsplit(".", 1)[0] for n in names if n.lower().endswith(".ttf")}
        for n in names:
            stem, ext = n.rsplit(".", 1) if "." in n else (n, "")
            if ext.lower() not in ("ttf", "otf") or "VariableFont" in stem:
                continue
            if ext.lower() == "otf" and stem in ttf:
                continue
            path = str(folder / n)
            if _has_digits(path):
                paths.append(path)
    return tuple(paths)


def scene_fonts(packages: bool = True) -> tuple[str, ...]:
    """The training typefaces: matplotlib's TRAIN_FONTS (absolute paths), then the packages' fonts."""
    base = tuple(str(font_dir() / name) for name in TRAIN_FONTS)
    fonts = base + (package_fonts() if packages else ())
    held_out = {name.lower() for name in TEST_FONTS}
    return tuple(f for f in fonts if f.rsplit("/", 1)[-1].lower() not in held_out)
