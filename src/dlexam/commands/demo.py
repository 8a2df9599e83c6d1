"""`dlexam demo`: the main job. A tour of every system the project builds, in a few minutes."""

from __future__ import annotations

import argparse
import time

from dlexam.commands.options import out_folder_text
from dlexam.plain import printable


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the tour: Geoff's matrices, sorting, the CNN, the answer key, the report")
    p.add_argument("--out", default="runs/demo", type=out_folder_text,
                   help="folder for the demo's files (default: runs/demo)")
    p.set_defaults(handler=handle)


def banner(title: str) -> None:
    print(f"\n{'=' * 78}\n{title}\n{'=' * 78}", flush=True)


def section_done(s) -> None:
    print(f"  {s.title}: {'ok' if s.ok else s.error} ({s.seconds:.0f} s)", flush=True)


def format_steps(a, *, layer_head: int = 0) -> str:
    """A plain-text rendering: one line per decoding step with its attention weights over the prefix."""
    width = max(len(t) for t in a.tokens)
    lines = ["step  query" + " " * max(0, width - 5) + "  attention over the prefix -> output"]
    for i, st in enumerate(a.steps, 1):
        w = st.weights[layer_head]
        cells = " ".join(f"{tok}:{x:.2f}" for tok, x in zip(a.tokens, w, strict=False) if x >= 0.005)
        lines.append(f"{i:>4}  {st.query:<{width}}  {cells} -> {st.produced}")
    return "\n".join(lines)


def print_sort_demo(d) -> None:
    print("== Problem 2, solved: a 1-layer, 1-head, argmax-attention transformer that deduplicates and sorts")
    for text, answer in d.examples:
        print(f"  {text or '(empty)':<14} -> {answer or '(empty)'}")
    print(f"  attention of each decoding step on '{d.example}' (weights > 0 only):")
    print("    " + format_steps(d.steps).replace("\n", "\n    "))
    print(f"  vocabulary 0..99, {d.batch} random inputs of length {d.length}: {d.correct}/{d.batch} exactly "
          f"sorted(set(x)), {d.decode_steps} decoding steps in {d.seconds:.2f} s")
    print(f"  {d.trained_name} (softmax at its T / argmax, T = 0):")
    for text, soft, zero in d.trained:
        print(f"  {text:<28} -> {soft} / {zero}")
    print(f'  (`dlexam sort "{d.example}"`, `dlexam sort --trained`, `dlexam sort train`, `dlexam sort evaluate`; see '
          "docs/sorting.md)")


def print_svhn_demo(d) -> None:
    print("Problem 1: the exam's CNN on 32x32 grayscale house numbers")
    for r in d.rows:
        print(f"  {r['layer']:<16} {' x '.join(map(str, r['output_shape'])):>12} {r['params']:>6,} params")
    print(f"  total {sum(r['params'] for r in d.rows):,} trainable parameters")
    print(f"Problem 1.3, nn.Linear(256, 10): RuntimeError: {d.bug['error']}")
    print(f"  fix: {d.bug['fix']}")
    print(f"wrote 3,000 train / 600 test SVHN-like digits (official .mat format) to {d.data}")
    for row in d.history:
        print(f"  epoch {row['epoch']}: train loss {row['train_loss']:.3f},"
              f" val accuracy {row['val_accuracy']:.3f} ({row['images_per_s']:.0f} images/s)")
    print(f"test accuracy (held-out fonts) after {len(d.history)} short epochs: {d.test_accuracy:.3f} (chance 0.100)")
    print("predict on 5 held-out PNGs: " + ", ".join(
        f"{name} true {t} -> {digit} (p={p:.2f})" for name, t, digit, p in d.predictions))
    print(f"run directory {d.run}: best.pt, last.pt, metrics.csv, curves.png ({d.seconds:.1f} s)")


def print_shipped_demo(d) -> None:
    print(f"real digits, {d.model}:")
    for name, what in (("svhn_dev", "real house numbers (SVHN crops, development set)"),
                       ("chars74k", "photographed digits (Chars74K)"), ("mnist2000", "handwritten digits (MNIST)")):
        c = d.checks[name]
        print(f"  {what}: " + (f"accuracy {c['accuracy']:.3f} on {c['n']:,}" if "accuracy" in c
                               else f"skipped, {c['skipped']}"))
    if d.photos:
        right = sum(t == p for _, t, p in d.photos)
        print(f"  dlexam svhn predict on the first photo of each digit: {right} of {len(d.photos)} right")
        print("    " + ", ".join(f"{t} -> {p}" for _, t, p in d.photos))


def check_targets(out, settings, sections) -> None:
    """What the tour writes, checked before it starts, as every command checks its targets before any work: the
    SVHN demo's .mat files (`OUT/svhn/svhn-synth`) and the report's page and experiment files (`OUT/report`). The
    demo has no --force: a file there that dlexam did not write is refused with `move it, or choose another folder`.
    Until 2026-12-07 the tour ran first and was refused at that file, advising a `force` it does not take."""
    from dlexam.files import OutputDir
    from dlexam.report.build import open_out_dir
    from dlexam.svhn.demo import DATA

    with OutputDir(out / "svhn" / DATA, forceable=False) as data:  # a folder made for the check goes again
        data.claim("train_32x32.mat", "test_32x32.mat")
    open_out_dir(out / "report", settings, sections, forceable=False).close()


def handle(args: argparse.Namespace) -> int:
    from dlexam import geoff
    from dlexam.answers import answer_key
    from dlexam.commands.answers import render_table
    from dlexam.commands.geoff import render
    from dlexam.files import check_dir_path
    from dlexam.report import ReportSettings, build_report, default_sections
    from dlexam.report.build import without_missing
    from dlexam.shared import SharedDataMissing, how_to_get
    from dlexam.sorting.demo import run_demo as sort_demo
    from dlexam.svhn.demo import run_demo as svhn_demo
    from dlexam.svhn.demo import shipped_on_real_digits

    out = check_dir_path(args.out, "--out")  # a file, a link to nothing: refused before the tour starts
    settings, sections, missing = without_missing(ReportSettings(quick=True), default_sections())
    check_targets(out, settings, sections)  # a file dlexam did not write where the tour writes: refused now too
    t0 = time.perf_counter()
    banner("Problem 2: Geoff's transformer with the exam's weights, on the exam's example")
    print(render(geoff.analyse(geoff.GeoffQuery())))
    banner("Problem 2, beyond the exam: transformers that really deduplicate and sort")
    print_sort_demo(sort_demo())
    banner("Problem 1: the exam's CNN for SVHN digits")
    print_svhn_demo(svhn_demo(out / "svhn"))  # its data in out/svhn/DATA, checked above
    print_shipped_demo(shipped_on_real_digits())
    banner("The whole exam: 20 questions answered by computation and checked against the exam's solutions")
    try:
        print(render_table([a.to_dict() for a in answer_key()]))
    except SharedDataMissing as exc:  # a clone without ../shared: say what was skipped and how to get it
        print(f"skipped: the answer key needs the exam text ({exc}); {how_to_get()}")
    banner("One HTML report of everything (quick mode)")
    for why in missing.values():
        print(f"skipped: {why}")
    report = build_report(out / "report", settings, sections, progress=section_done, forceable=False)
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; files under {printable(str(out))}")
    print(f"report: {printable(str(report.path.resolve()))}")
    return 0 if report.ok else 1
