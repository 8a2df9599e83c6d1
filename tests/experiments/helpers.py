"""Checks every experiment's result must pass (shared by the per-experiment tests)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dlexam.experiments.results import RESULT_FILE, VERDICTS
from dlexam.figures import narrow_name

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, read from its IHDR chunk (the PNG standard: bytes 16-24, big-endian)."""
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def check_words(text: str, what: str) -> None:
    """Text a reader sees (a finding, a claim, an alt text, a caption) is typeset: no space at either end (the pooling
    finding ended in one), no double space, no "seed(s)" where the count is known, and a sentence after a full stop
    opens with a capital (the activations finding had "0.12. matched init"), and no mean of a single run (a quick
    pooling run said "mean of 1 seed", a quick skip-connections run "means over 1 seed")."""
    assert text == text.strip(), f"{what} starts or ends with whitespace: {text[:30]!r}...{text[-30:]!r}"
    assert "  " not in text, f"{what} has a double space: {text[max(0, text.index('  ') - 40):text.index('  ') + 40]!r}"
    assert "(s)" not in text, f"{what} says {text[max(0, text.index('(s)') - 30):text.index('(s)') + 3]!r}"
    single = re.search(r"\bmeans? (?:of|over) (?:the )?(?:1|one) [a-z]", text)
    assert single is None, f"{what} calls one run a mean: {text[max(0, single.start() - 30):single.end() + 10]!r}"
    lower = re.search(r"(?<!e\.g)(?<!i\.e)(?<!vs)\. [a-z]", text)
    assert lower is None, f"{what}: a sentence opens in lower case: {text[max(0, lower.start() - 40):lower.end()]!r}"


def check_result(result: dict, out_dir: Path, name: str) -> None:
    assert result["name"] == name
    check_words(result["finding"], f"{name}'s finding")
    check_words(result["claim"], f"{name}'s claim")
    assert result["quick"] is True
    assert result["verdict"] in VERDICTS
    assert len(result["claim"]) > 40 and result["claim_source"]
    assert len(result["finding"]) > 80
    # a quick run says so first, and what its cut-down settings mean for the finding
    assert result["finding"].startswith("Quick run (") and " instead of " in result["finding"].split(":")[0]
    assert result["table"] and all(isinstance(r, dict) for r in result["table"])
    assert len({tuple(r) for r in result["table"]}) == 1  # every row has the same columns
    assert result["figures"]
    for fig in result["figures"]:
        p = Path(fig)
        assert p.parent == out_dir.resolve()
        for drawing in (p, p.with_name(narrow_name(p.name))):  # and its drawing for narrow screens
            data = drawing.read_bytes()
            assert data[:8] == PNG_MAGIC and len(data) > 5_000
        # the narrow drawing is 400 px wide, exactly (docs/report.md): 399 to 408, and 366 for an image grid, before
        assert png_size(p.with_name(narrow_name(p.name)).read_bytes())[0] == 400, p.name
        said = result["captions"][p.name]  # what it shows, in words: not its file name
        assert len(said["alt"].split()) >= 8 and len(said["caption"].split()) >= 8
        assert ".png" not in said["alt"] + said["caption"]
        check_words(said["alt"], f"{p.name}'s alt text")
        check_words(said["caption"], f"{p.name}'s caption")
    on_disk = json.loads((out_dir / RESULT_FILE).read_text())
    assert on_disk == json.loads(json.dumps(result))
    leftovers = [p.name for p in out_dir.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers



def _covered(xy, axes_box, legend_box) -> int:
    """How many of the display points `xy` lie inside the axes (where they are drawn) and under the legend."""
    import numpy as np

    xy = xy[np.all(np.isfinite(xy), axis=1)]
    xy = xy[(xy[:, 0] >= axes_box.x0) & (xy[:, 0] <= axes_box.x1) &
            (xy[:, 1] >= axes_box.y0) & (xy[:, 1] <= axes_box.y1)]
    return int(np.sum((xy[:, 0] > legend_box.x0) & (xy[:, 0] < legend_box.x1) &
                      (xy[:, 1] > legend_box.y0) & (xy[:, 1] < legend_box.y1)))


def _along(xy, samples: int = 25):
    """Points along each straight segment between consecutive display points (as matplotlib draws a line)."""
    import numpy as np

    if len(xy) < 2:
        return xy
    t = np.linspace(0, 1, samples)[:, None, None]
    return (xy[:-1][None] * (1 - t) + xy[1:][None] * t).reshape(-1, 2)


def legend_overlaps(fig, pad_px: float = 2.0) -> list[str]:
    """Where a legend of `fig` covers data: for each axes' legend, the lines (each vertex and points along each
    segment, as matplotlib draws them: straight between the transformed vertices), scatter points and error bars
    of that axes that fall inside the legend's box in display coordinates, and its bars (the Rectangle patches of
    `bar` and `hist`) whose drawn extent meets the box (matplotlib's own transforms and the legend's drawn extent
    are the oracle); for a legend of the whole figure, those of every axes. Only points inside the axes count:
    those outside are not drawn."""
    import numpy as np
    from matplotlib.collections import LineCollection, PathCollection
    from matplotlib.container import BarContainer
    from matplotlib.patches import Rectangle

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    pairs = [(ax, ax.get_legend()) for ax in fig.axes] + [(ax, legend) for legend in fig.legends for ax in fig.axes]
    for ax, legend in pairs:
        if legend is None or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer).padded(pad_px)
        for line in ax.get_lines():
            if line.get_visible() and len(line.get_xydata()):
                xy = line.get_transform().transform(np.asarray(line.get_xydata(), float))
                if (n := _covered(_along(xy) if line.get_linestyle() not in ("None", "", " ") else xy, ax.bbox, box)):
                    found.append(f"{ax.get_title()!r}: line {line.get_label()!r}, {n} points under the legend")
        for coll in ax.collections:
            if not coll.get_visible():
                continue
            if isinstance(coll, PathCollection):
                xy = coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), float))
            elif isinstance(coll, LineCollection):
                segs = [coll.get_transform().transform(np.asarray(s, float)) for s in coll.get_segments() if len(s)]
                xy = np.concatenate([_along(s) for s in segs]) if segs else np.zeros((0, 2))
            else:
                continue
            if (n := _covered(xy, ax.bbox, box)):
                found.append(f"{ax.get_title()!r}: {type(coll).__name__} {coll.get_label()!r}, {n} points under "
                             "the legend")
        # `bar(..., label=)` names the BarContainer, not each of its Rectangles
        named = {id(p): c.get_label() for c in ax.containers if isinstance(c, BarContainer) for p in c.patches}
        bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_visible() and _meets(p, ax.bbox, box)]
        for label in dict.fromkeys(named.get(id(p), p.get_label()) for p in bars):
            n = sum(named.get(id(p), p.get_label()) == label for p in bars)
            found.append(f"{ax.get_title()!r}: bars {label!r}, {n} under the legend")
    return found


def _meets(patch, axes_box, legend_box) -> bool:
    """Whether a Rectangle's drawn extent (display coordinates, cut to the axes) meets the inside of the legend's
    box; a bar of height 0 is a segment and meets it where it crosses the box."""
    from matplotlib.transforms import Bbox

    r = patch.get_window_extent()
    r = Bbox.intersection(r, axes_box)
    if r is None:
        return False
    return r.x0 < legend_box.x1 and r.x1 > legend_box.x0 and r.y0 < legend_box.y1 and r.y1 > legend_box.y0


def _look(artist):
    """What tells a legend entry's artist apart besides its colour: a line's dashes, marker and fill, a bar's hatch
    (an error bar's by its data line)."""
    from matplotlib.container import BarContainer, ErrorbarContainer
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if isinstance(artist, ErrorbarContainer):
        artist = artist.lines[0]
    if isinstance(artist, BarContainer):
        artist = artist.patches[0]
    if isinstance(artist, Line2D):
        style = artist.get_linestyle()
        dashes = "none" if style in ("None", "", " ") else tuple(getattr(artist, "_unscaled_dash_pattern", (0, None))[1]
                                                                  or ())
        marker = artist.get_marker()
        marker = None if marker in ("None", "", " ", None) else marker
        return ("line", dashes, marker, artist.get_fillstyle() if marker else None)
    if isinstance(artist, Patch):
        return ("bar", artist.get_hatch() or "")
    return None


def colour_alone(fig) -> list[str]:
    """The pairs of entries of any legend of `fig` (a panel's or the figure's) whose artists differ in colour alone:
    the same dashes, marker and fill, or the same hatch. Where such lines overlap, a reader who cannot tell the
    colours apart (in greyscale, or colour-blind) cannot tell which is which. Each entry is looked up by its label
    among the artists of `fig`'s panels (matplotlib's own record of what was drawn)."""
    drawn = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            drawn.setdefault(label, handle)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    found = []
    for legend in legends:
        seen = {}
        for text in legend.get_texts():
            label = text.get_text()
            look = _look(drawn[label]) if label in drawn else None
            if look is None:
                continue
            if look in seen:
                found.append(f"{seen[look]!r} and {label!r}")
            seen.setdefault(look, label)
    return found
