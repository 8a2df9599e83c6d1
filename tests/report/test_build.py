"""The report's framework: independent sections, visible failures, atomic self-contained output."""

from __future__ import annotations

import json
import os
import re
import stat
from html.parser import HTMLParser

import pytest

from dlexam.cli import main
from dlexam.errors import UserError
from dlexam.report import ReportSettings, SectionSpec, build_report, default_sections, page, plots


def fine_section(ctx):
    png = plots.heatmap([[1.0, 0.0], [0.5, 0.5]], title="fine")
    return page.paragraph("a fine section") + page.figure(png, "a fine figure")


def broken_section(ctx):
    import dlexam.no_such_module  # noqa: F401 - the dependency that fails


def partly_broken_section(ctx):
    ok = ctx.guard("the good part", lambda: page.paragraph("good part"))
    bad = ctx.guard("the bad part", lambda: 1 / 0)
    return ok + bad


SPECS = [
    SectionSpec("fine", "Fine", fine_section),
    SectionSpec("broken", "Broken", broken_section),
    SectionSpec("partly", "Partly broken", partly_broken_section),
]


def section_html(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}"[^>]*>(.*?)</section>', html, re.S)
    assert m, f"section {sid} missing"
    return m.group(0)


def test_a_failing_section_shows_an_error_box_and_the_others_are_built(tmp_path):
    result = build_report(tmp_path, ReportSettings(tiny=True), sections=SPECS)
    assert result.path == tmp_path / "index.html"
    assert [s.ok for s in result.sections] == [True, False, False]
    html = result.path.read_text()

    fine = section_html(html, "fine")
    assert 'data-status="ok"' in fine and "error-box" not in fine and "<img" in fine

    broken = section_html(html, "broken")
    assert 'data-status="error"' in broken and 'class="error-box"' in broken
    assert "ModuleNotFoundError" in broken and "dlexam.no_such_module" in broken

    partly = section_html(html, "partly")
    assert 'data-status="error"' in partly and "good part" in partly
    assert "the bad part failed" in partly and "ZeroDivisionError" in partly
    assert "ZeroDivisionError" in result.sections[2].error

    # the table of contents lists every section and flags the failed ones
    toc = re.search(r'<nav class="toc".*?</nav>', html, re.S).group(0)
    assert re.findall(r'href="#([^"]+)"', toc) == ["fine", "broken", "partly"]
    assert toc.count("(failed)") == 2


def test_page_is_self_contained(tmp_path):
    html = build_report(tmp_path, ReportSettings(tiny=True), sections=SPECS[:1]).path.read_text()
    assert_self_contained(html)


def assert_self_contained(html: str) -> None:
    """No reference to anything outside the page: no URL, no external script, style or image."""
    low = html.lower()
    for needle in ("http://", "https://", "file://", "<link", "<script", "@import", "url("):
        assert needle not in low, f"page refers outside itself: {needle!r}"
    for src in re.findall(r'\ssrc="([^"]*)"', html):
        assert src.startswith("data:image/png;base64,"), src[:60]


def test_refuses_to_replace_an_index_html_it_did_not_write(tmp_path):
    foreign = tmp_path / "index.html"
    foreign.write_text("<html>someone's page</html>")
    with pytest.raises(UserError, match="not written by dlexam"):
        build_report(tmp_path, ReportSettings(tiny=True), sections=SPECS[:1])
    assert foreign.read_text() == "<html>someone's page</html>"


def test_replaces_its_own_earlier_report_and_leaves_no_temporary_files(tmp_path):
    build_report(tmp_path, ReportSettings(tiny=True), sections=SPECS[:1])
    build_report(tmp_path, ReportSettings(tiny=True), sections=SPECS[1:2])
    from dlexam.files import LOCK, MANIFEST

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["index.html", LOCK, MANIFEST])  # no .tmp left
    html = (tmp_path / "index.html").read_text()
    assert 'id="broken"' in html and 'id="fine"' not in html
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "index.html").stat().st_mode) == 0o666 & ~umask  # like any new file


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["report", "--out", str(not_a_dir), "--quick"]) == 2
    err = capsys.readouterr().err
    said = err.startswith("dlexam report: error: argument --out: ")  # as the parser reads --out, before torch loads
    assert said and err.count("\n") == 1 and "not a folder" in err, err
    assert not_a_dir.read_text() == "x"


def test_default_sections_cover_the_issue():
    ids = [s.id for s in default_sections()]
    assert ids == ["answer-key", "geoff", "sorting", "cnn", "experiments"]


def test_cli_prints_the_path_and_exits_1_when_a_section_failed(tmp_path, capsys, monkeypatch):
    import dlexam.report.build as build_module

    monkeypatch.setattr(build_module, "default_sections", lambda: SPECS[:1])
    assert main(["report", "--out", str(tmp_path / "a"), "--quick"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str((tmp_path / "a" / "index.html").resolve())
    assert "ok" in err and "Fine" in err

    monkeypatch.setattr(build_module, "default_sections", lambda: SPECS)
    assert main(["report", "--out", str(tmp_path / "b"), "--json"]) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["ok"] is False and summary["path"] == str(tmp_path / "b" / "index.html")
    assert [(s["id"], s["ok"]) for s in summary["sections"]] == [("fine", True), ("broken", False), ("partly", False)]
    assert "dlexam.no_such_module" in summary["sections"][1]["error"]
    assert (tmp_path / "b" / "index.html").exists()


def test_an_unwritable_out_dir_is_a_user_error_before_any_work(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    built = []
    spec = SectionSpec("fine", "Fine", lambda ctx: built.append(1) or "x")
    with pytest.raises(UserError, match="--out .*file-not-folder is a file, not a folder"):
        build_report(blocked / "sub", ReportSettings(tiny=True), sections=[spec])
    assert built == []


def test_a_failing_experiment_is_boxed_and_named_in_the_summary(tmp_path, monkeypatch):
    import dlexam.experiments
    from dlexam.report.sections import experiments

    def broken(run):
        raise RuntimeError(f"{run.name} broke")

    monkeypatch.setattr(dlexam.experiments, "run_experiment", broken)
    from dlexam.experiments.registry import SHARED_INPUTS

    names = [n for n in dlexam.experiments.EXPERIMENTS if n not in SHARED_INPUTS][:2]  # runnable without ../shared
    spec = SectionSpec("experiments", "Experiments", experiments.build)
    result = build_report(tmp_path, ReportSettings(tiny=True, experiments=tuple(names)), sections=[spec])
    (section,) = result.sections
    assert not section.ok and all(f"{n} broke" in section.error for n in names)
    html = section_html(result.path.read_text(), "experiments")
    assert html.count('class="error-box"') == 2 and html.count("failed (see below)") == 2
    for n in names:
        assert f'id="experiment-{n}"' in html and f"experiment {n} failed" in html


def test_unknown_experiment_names_fail_the_section(tmp_path):
    from dlexam.report.sections import experiments

    spec = SectionSpec("experiments", "Experiments", experiments.build)
    result = build_report(tmp_path, ReportSettings(tiny=True, experiments=("no-such",)), sections=[spec])
    assert "unknown experiment(s) no-such" in result.sections[0].error


def test_an_interrupted_report_leaves_no_folder_behind(tmp_path):
    """Ctrl-C before the experiments ran: the folders made for them, the lock and --out itself go again
    (they were left behind, empty, with a lock: found by the CLI fuzz)."""
    def interrupt(section):
        raise KeyboardInterrupt

    specs = [SectionSpec("fine", "Fine", fine_section),
             SectionSpec("experiments", "Experiments", fine_section)]
    out = tmp_path / "new" / "report"
    with pytest.raises(KeyboardInterrupt):
        build_report(out, ReportSettings(quick=True, experiments=("pooling", "separable-logreg")), specs,
                     progress=interrupt)
    assert not (tmp_path / "new").exists()


def test_an_interrupted_report_keeps_a_folder_that_was_there(tmp_path):
    """Only what the report made goes: an existing --out keeps its own files and loses the empty folders (and the
    lock file the report made there: nothing of dlexam's was written)."""
    (tmp_path / "mine.txt").write_text("the user's")
    specs = [SectionSpec("fine", "Fine", fine_section),
             SectionSpec("experiments", "Experiments", fine_section)]

    def interrupt(section):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_report(tmp_path, ReportSettings(quick=True, experiments=("pooling",)), specs, progress=interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


class _Links(HTMLParser):
    """Every id and every in-page link (#target) of a page, read by Python's own HTML parser."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.targets: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and (a.get("href") or "").startswith("#"):
            self.targets.append(a["href"][1:])


def test_a_link_to_a_part_the_page_lacks_is_left_as_its_text():
    """The answer key links each conceptual question to its experiment (#experiment-NAME); a report built
    without that experiment (--skip-missing without MNIST, a failed experiments section, a selection of
    experiments) linked to nothing."""
    body = ('<h3 id="here">Here</h3><p>see <a href="#here">here</a> and '
            '<a href="#experiment-gone">gone</a></p>')
    html = page.render_page("t", "", [page.RenderedSection("s", "S", body)])
    links = _Links(html)
    assert "here" in links.targets and "s" in links.targets  # the links that have a target stay
    assert [t for t in links.targets if t not in links.ids] == []
    assert "and gone</p>" in html  # the text of the link that had none stays


def test_every_in_page_link_of_the_report_has_its_target(tiny_report):
    """The test report runs 3 of the 6 experiments; the answer key still links to all 6."""
    links = _Links(tiny_report[0].read_text())
    assert links.targets and [t for t in links.targets if t not in links.ids] == []


@pytest.mark.parametrize("planted", ["experiments", "experiments/pooling"])
def test_a_link_where_the_report_makes_an_experiments_folder_is_refused_before_any_work(tmp_path, monkeypatch,
                                                                                        planted):
    """A symbolic link to a foreign folder planted where the report keeps its experiments' files: the report
    wrote its lock, file record, result.json and figures into the foreign folder (only a dangling link was
    refused). As `.dlexam-cache/` and every file dlexam writes, the folder may not be a link."""
    import dlexam.experiments

    ran = []
    monkeypatch.setattr(dlexam.experiments, "run_experiment", lambda run: ran.append(run) or 1 / 0)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "mine.txt").write_text("keep")
    out = tmp_path / "report"
    (out / planted).parent.mkdir(parents=True, exist_ok=True)
    (out / planted).symlink_to(outside)
    spec = next(s for s in default_sections() if s.id == "experiments")
    with pytest.raises(UserError, match="symbolic link") as err:
        build_report(out, ReportSettings(tiny=True, experiments=("pooling",)), sections=[spec])
    assert planted in str(err.value) and "\n" not in str(err.value)
    assert ran == [] and sorted(p.name for p in outside.iterdir()) == ["mine.txt"]
    assert (out / planted).is_symlink()


def test_every_narrow_drawing_of_the_report_is_400_px_wide(tiny_report):
    """Every figure's drawing for narrow screens (the `<source>` of its `<picture>`), in every section, is 400 px
    wide, exactly (docs/report.md; 346 to 401 px before: a crop to what was drawn). The experiments' own narrow
    PNGs are checked by each one's quick run (tests/experiments/helpers.check_result)."""
    import base64
    from collections import Counter

    html = tiny_report[0].read_text()
    sources = re.findall(r'<source media="[^"]*" srcset="data:image/png;base64,([^"]+)"', html)
    assert len(sources) == html.count("<picture>") >= 10
    pngs = [base64.b64decode(data) for data in sources]
    assert all(png[12:16] == b"IHDR" for png in pngs)
    widths = Counter(int.from_bytes(png[16:20], "big") for png in pngs)  # the PNG standard's IHDR: big-endian
    assert set(widths) == {400}, widths
