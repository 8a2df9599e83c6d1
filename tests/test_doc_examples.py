"""The Python examples in README.md and docs/*.md name what the library has, and call it as it can be called.

An audit pasted them: one called run_experiment with arguments it no longer takes, two imported names from
modules that do not have them. Running every example would mean training; instead each example's imports are
done, and each call of an imported function or class (or of a method of an imported class) is bound to its
signature with the example's own argument count and keyword names.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def examples() -> list[tuple[str, str]]:
    out = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append((f"{doc.relative_to(ROOT)}:{line}", m.group(1)))
    return out


def test_the_docs_have_python_examples():
    assert len(examples()) >= 4  # the guard below guards something


def _imported(tree: ast.Module) -> dict[str, object]:
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
                names[alias.asname or alias.name] = getattr(module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = importlib.import_module(alias.name)
    return names


def _callee(func: ast.expr, names: dict[str, object]):
    """The object a call's function names, if it is an imported name or an attribute chain of one."""
    if isinstance(func, ast.Name):
        return names.get(func.id)
    if isinstance(func, ast.Attribute):
        owner = _callee(func.value, names)
        if owner is not None and (inspect.isclass(owner) or inspect.ismodule(owner)):
            assert hasattr(owner, func.attr), f"{owner.__name__} has no {func.attr}"
            return getattr(owner, func.attr)
    return None


@pytest.mark.parametrize("where, code", examples(), ids=[w for w, _ in examples()])
def test_an_example_imports_and_calls_what_exists(where, code):
    tree = ast.parse(code)
    names = _imported(tree)
    calls = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or any(isinstance(a, ast.Starred) for a in node.args) \
                or any(k.arg is None for k in node.keywords):
            continue
        target = _callee(node.func, names)
        if target is None or not callable(target):
            continue
        try:
            signature = inspect.signature(target)
        except (TypeError, ValueError):  # a builtin without a signature
            continue
        args = [object()] * len(node.args)
        try:
            signature.bind(*args, **{k.arg: object() for k in node.keywords})
        except TypeError as exc:
            pytest.fail(f"{where}: {ast.unparse(node)[:80]}: {exc}")
        calls += 1
    assert calls or not names, f"{where}: no call of an imported name was checked"


# --- command lines: every `dlexam ...` the docs show names subcommands and options the command line has ---------

SHELL_FENCES = ("", "sh", "bash", "console", "shell")
PLACEHOLDER = re.compile(r"[A-Z][A-Z_0-9]*")  # NAME, DIR, RUN, N: a synopsis's stand-in for a value
# a command named without `dlexam` in a sentence, with its flags: `svhn evaluate --split`, `sort train --force`
FRAGMENT = re.compile(r"`((?:geoff|sort|svhn (?:summary|download|synth|mnist|train|evaluate|predict|explain)|answers|"
                      r"experiment|report|demo|serve|variant|grade) [^`]*--[^`]*)`")


def _shell_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of the shell blocks, and of each inline `dlexam ...` outside any block."""
    out, block, prose = [], None, []
    for no, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            block = line[3:].strip() if block is None else None
            continue
        if block is None:
            prose.append((no, line))
        elif block in SHELL_FENCES:
            out.append((no, re.sub(r"^\s*\$ ", "", line)))
    for no, line in prose:
        out += [(no, m.group(1)) for m in re.finditer(r"`(dlexam [^`]+)`", line) if ": error:" not in m.group(1)]
        out += [(no, "dlexam " + m.group(1)) for m in FRAGMENT.finditer(line)]  # `sort train --force` in a sentence
    return out


def command_lines() -> list[tuple[str, list[str]]]:
    import shlex

    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for no, line in _shell_lines(doc.read_text(encoding="utf-8")):
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split, lexer.commenters = True, "#"
            try:
                words = list(lexer)
            except ValueError:  # prose with an apostrophe, not a command
                continue
            commands = [[]]
            for w in words:
                commands.append([]) if re.fullmatch(r"[|;&<>()]+", w) else commands[-1].append(w)
            for c in commands:
                if "dlexam" in c and (c.index("dlexam") == 0 or c[c.index("dlexam") - 1] == "-m"):
                    args = [a.strip("[]").split("|")[0] for a in c[c.index("dlexam") + 1:]]  # a synopsis's [--x a|b]
                    found.append((f"{doc.relative_to(ROOT)}:{no}", [a for a in args if a]))
    return found


def cli_refusal(args: list[str]) -> str | None:
    """What the parser says against a name in `args` (an unknown subcommand, option or choice), else None.
    A missing argument or a placeholder value is not refused: the docs quote fragments and synopses."""
    import contextlib
    import io

    from dlexam.cli import Parser, build_parser
    from dlexam.commands import sort_options

    def lenient(parser):  # a fragment leaves out required arguments (`svhn train --init`): still read its names
        for action in parser._actions:
            action.required = False
            for sub in getattr(action, "choices", None).values() if isinstance(action.choices, dict) else ():
                lenient(sub)
        return parser

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parsed = lenient(build_parser()).parse_args(args)
            if args[:1] == ["sort"]:  # `dlexam sort` parses its words again when it runs (commands/sort.py)
                words, p = list(parsed.words), Parser(prog="dlexam sort")
                if words and words[0] in sort_options.ACTIONS:
                    (sort_options.train_options if words.pop(0) == "train" else sort_options.evaluate_options)(p)
                    lenient(p).parse_args(words)
                else:  # a query's options may stand between its symbols (`sort D --trained A`)
                    sort_options.query_options(p)
                    p.add_argument("sequence", nargs="*")
                    p.parse_intermixed_args(words)
    except SystemExit:
        text = err.getvalue()
        if "unrecognized arguments" in text:
            return text.strip()
        choice = re.search(r"invalid choice: '([^']*)'", text)
        if choice and not PLACEHOLDER.fullmatch(choice.group(1)):
            return text.strip()
    return None


def test_the_docs_show_command_lines():
    assert len(command_lines()) >= 150  # the guard below guards something


@pytest.mark.parametrize("where, args", command_lines(), ids=[w for w, _ in command_lines()])
def test_a_command_line_in_the_docs_names_what_the_cli_has(where, args):
    refusal = cli_refusal(args)
    assert refusal is None, f"{where}: dlexam {' '.join(args)}: {refusal}"


def test_the_command_check_finds_a_wrong_name():
    assert cli_refusal(["sort", "train", "--steps-per-epoch", "3", "--out", "x"])  # no such option
    assert cli_refusal(["svhn", "summary", "--head", "conv5x5"])  # no such choice
    assert cli_refusal(["experiment", "dropout"])
    assert cli_refusal(["experiment", "NAME", "--quick"]) is None  # a synopsis
    assert cli_refusal(["svhn", "train"]) is None  # a fragment: `svhn train` in a sentence
    assert [c for _, c in _shell_lines("`svhn train --force` and `sort train` (`svhn train`)")] == \
        ["dlexam svhn train --force"]  # a fragment with a flag is checked: svhn train has no --force
    assert cli_refusal(["svhn", "train", "--force"])  # though --out, required, is left out
    assert cli_refusal(["sort", "train", "--trained"]) and cli_refusal(["svhn", "predict", "--bogus"])


# --- docs/architecture.md: every dotted name it gives for a place in the code is there ----------------------------

PACKAGES = ("answers", "attention", "bounds", "checkpoint", "commands", "cpu", "errors", "exact", "experiments",
            "figures", "files", "geoff", "limits", "mathtext", "plain", "pools", "progress", "report", "runs", "serve",
            "shared", "sorting", "spec", "svhn", "transformer", "variants", "words")


def architecture_names() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    names = set()
    for m in re.finditer(r"`([a-z_]+(?:[./][A-Za-z_]\w*)+)`", text):
        name = m.group(1).replace("/", ".")
        if name.split(".")[0] in PACKAGES and not name.endswith(".py"):
            names.add(name)
    return sorted(names)


def resolves(name: str) -> bool:
    parts = ["dlexam", *name.split(".")]
    for i in range(len(parts), 1, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_the_map_names_the_code_that_is_there():
    names = architecture_names()
    assert len(names) > 60
    missing = [n for n in names if not resolves(n)]
    assert missing == [], f"docs/architecture.md names what dlexam does not have: {missing}"
    assert not resolves("checkpoint.load_model") and not resolves("geoff.no_such_module.f")


def test_every_doc_names_the_code_that_is_there():
    """Beyond the map: a `dlexam.x.y` name in README.md or any doc (a module, function, class or constant) is there."""
    names = {}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for m in re.finditer(r"`dlexam\.([a-z_]+(?:\.[A-Za-z_]\w*)*)(?:\(\))?`", doc.read_text(encoding="utf-8")):
            names.setdefault(m.group(1), doc.name)
    assert len(names) > 90
    missing = [f"{doc}: dlexam.{n}" for n, doc in names.items() if not resolves(n)]
    assert missing == [], f"the docs name what dlexam does not have: {missing}"


# --- numbers the docs quote from files and outputs that are cheap to read ------------------------------------------

def test_the_shipped_files_sizes_are_as_the_docs_say():
    """A size in kB given right after a shipped file's path is the file's size (to the digits given)."""
    quoted = 0
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"src/dlexam/(\w+/shipped\.pt)`[^.]{0,160}?(\d+(?:\.\d+)?) kB", text):
            size = (ROOT / "src" / "dlexam" / m.group(1)).stat().st_size / 1000
            digits = len(m.group(2).partition(".")[2])
            said = float(m.group(2))
            assert round(size, digits) == said, f"{doc.name}: {m.group(1)} is {size:.2f} kB, not {said}"
            quoted += 1
    assert quoted >= 3


def test_the_readmes_example_numbers_are_in_the_solution_it_names():
    from dlexam.variants import documents, make_variant

    line = next(x for x in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
                if "dlexam variant --seed 7 --solution" in x)
    shown = re.search(r"every number exact \((.*)\)\s*$", line).group(1).split(", ")
    solution = documents.markdown(make_variant(7), solution=True)
    assert [s for s in shown if s not in solution] == []


# --- console examples: a `$ dlexam ...` block shows lines the command prints now ------------------------------------

def console_examples() -> list[tuple[str, str, list[str]]]:
    import shlex

    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"^( *)```\w*\n(\1\$ dlexam .*?)^\1```", text, re.S | re.M):  # in a list item too
            command, *shown = textwrap.dedent(m.group(2)).rstrip("\n").split("\n")
            line = text.count("\n", 0, m.start()) + 2
            found.append((f"{doc.relative_to(ROOT)}:{line}", shlex.split(command[len("$ dlexam "):]), shown))
    return found


def test_the_docs_have_console_examples():
    assert len(console_examples()) >= 3


@pytest.mark.parametrize("where, argv, shown", console_examples(), ids=[w for w, _, _ in console_examples()])
def test_a_console_example_prints_what_the_docs_show(where, argv, shown, capsys, monkeypatch):
    from dlexam.cli import main

    for name in ("DLEXAM_EXAM", "DLEXAM_SHARED"):  # main sets them from --exam / --shared; put them back after
        monkeypatch.setenv(name, os.environ.get(name, ""))
        if not os.environ[name]:
            monkeypatch.delenv(name)
    main(argv)
    out = capsys.readouterr()
    printed = (out.out + out.err).splitlines()
    missing = [s for s in shown if s not in printed]
    assert missing == [], f"{where}: `dlexam {' '.join(argv)}` no longer prints {missing}"


# --- numbers and answers the README and docs/sorting.md quote from a command, checked against what it prints -------

def _run(argv: list[str], capsys, monkeypatch) -> str:
    from dlexam.cli import main

    for name in ("DLEXAM_EXAM", "DLEXAM_SHARED"):  # main sets them from --exam / --shared; put them back after
        monkeypatch.setenv(name, os.environ.get(name, ""))
        if not os.environ[name]:
            monkeypatch.delenv(name)
    capsys.readouterr()
    assert main(argv) in (0, None)
    return capsys.readouterr().out


def test_the_readmes_exam_numbers_are_what_the_commands_print(capsys, monkeypatch):
    """Problem 2.3's and 2.4's losses (4.2114, 8.7973, 10.2114) and Problem 1's parameter count (3,722): each
    number the README's findings quote is a loss `dlexam geoff --heads 2` prints, or the total of `svhn summary`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    findings = readme[readme.index("What the project found"):readme.index("## Problem 2, solved")]
    losses = set(re.findall(r"\b\d+\.\d{4}\b", findings))
    assert len(losses) >= 3  # the guard below guards something
    printed = set(re.findall(r"loss = (\d+\.\d{4})", _run(["geoff", "--heads", "2"], capsys, monkeypatch)))
    missing = sorted(losses - printed)
    assert missing == [], f"README.md quotes losses `dlexam geoff --heads 2` does not print: {missing}"

    total = re.search(r"^total\s+([\d,]+)$", _run(["svhn", "summary"], capsys, monkeypatch), re.M).group(1)
    counts = re.findall(r"\b(\d,\d{3})(?:-parameter|\))", readme)
    assert counts and set(counts) == {total}, f"README.md quotes {counts} parameters; `svhn summary` prints {total}"


def sort_examples() -> list[tuple[str, list[str], str]]:
    """`dlexam sort QUERY   # ANSWER ...`: a query whose comment opens with the answer (`-> A D`, `7 42 99`)."""
    found = []
    for where, args in command_lines():
        if not where.startswith(("README.md", "docs/sorting.md")) or args[:1] != ["sort"] or \
                set(args) & {"train", "evaluate"}:
            continue
        doc, _, no = where.partition(":")
        line = (ROOT / doc).read_text(encoding="utf-8").splitlines()[int(no) - 1]
        if "|" in line or "#" not in line:
            continue
        comment = re.split(r"[(:]|\s{2,}", line.partition("#")[2].strip().removeprefix("->").strip())[0].strip()
        if comment and all(re.fullmatch(r"[A-Z]|\d+", t) for t in comment.split()):
            found.append((where, args, comment))
    return found


def test_the_docs_have_sort_examples():
    assert len(sort_examples()) >= 6


@pytest.mark.parametrize("where, args, answer", sort_examples(), ids=[w for w, _, _ in sort_examples()])
def test_a_sort_example_answers_what_the_docs_say(where, args, answer, capsys, monkeypatch):
    assert _run(args, capsys, monkeypatch).strip() == answer, f"{where}: dlexam {' '.join(args)}"


def test_the_csv_submission_in_docs_variants_is_graded_right_where_it_answers():
    """docs/variants.md's example sheet for `dlexam grade --variant 1`: every cell it gives is the key's."""
    from dlexam.variants import make_variant
    from dlexam.variants.grade import grade
    from dlexam.variants.submission import read_submission

    text = (ROOT / "docs" / "variants.md").read_text(encoding="utf-8")
    sheet = textwrap.dedent(re.search(r"^( *)```\n(\1id,value\n.*?)^\1```", text, re.S | re.M).group(2))
    seed = int(re.search(r"^seed,(\d+)$", sheet, re.M).group(1))
    result = grade(make_variant(seed), read_submission(sheet.encode()))
    given = {line.split(",")[0] for line in sheet.splitlines()[1:]} - {"seed", "fingerprint"}
    wrong = [(f.id, w["given"], w["expected"]) for f in result.fields if f.id in given for w in f.wrong
             if w["given"] not in ("", None)]
    assert wrong == [], f"docs/variants.md's example sheet answers wrongly: {wrong}"
    assert given <= {f.id for f in result.fields}


# --- test names: every `test_file::test_name` the docs cite is a test that is there --------------------------------

def cited_tests() -> list[tuple[str, str, str]]:
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for no, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for m in re.finditer(r"\b(test_\w+)(?:\.py)?::(\w+)(?![\w*])", line):
                found.append((f"{doc.relative_to(ROOT)}:{no}", *m.groups()))
    return found


def test_a_test_the_docs_cite_is_there():
    """An audit found three cited names a rename had left behind (test_links::test_svhn_evaluate_png_and_the_cache_
    refuse_planted_links, two in test_checkpoint_schema)."""
    sources: dict[str, list[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        sources.setdefault(path.stem, []).append(path.read_text(encoding="utf-8"))
    cited = cited_tests()
    assert len(cited) > 100  # the check below checks something
    missing = [f"{where}: {file}::{name}" for where, file, name in cited
               if not any(re.search(rf"^\s*(?:async )?(?:def|class) {name}\b", s, re.M) for s in sources.get(file, []))]
    assert missing == [], f"the docs cite tests that are not there: {missing}"


def test_the_readmes_layout_names_every_top_level_module():
    """The README's Layout block lists src/dlexam's packages and modules; an audit found spec/ (the exam as data),
    runs.py (the one run-folder service) and eight more of the core left out of it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^## Layout\n.*?^```\n(src/dlexam/.*?)^tests/", readme, re.S | re.M).group(1)
    package = ROOT / "src" / "dlexam"
    names = [p.name + "/" if p.is_dir() else p.name for p in sorted(package.iterdir())
             if not p.name.startswith(("_", ".")) and (p.suffix == ".py" or (p / "__init__.py").is_file())]
    assert len(names) > 20
    missing = [n for n in names if not re.search(rf"(?<![\w/]){re.escape(n)}", block)]
    assert missing == [], f"README.md's Layout leaves out {missing}"


def test_the_svhn_summary_json_docs_svhn_shows_is_what_it_prints():
    """docs/svhn.md's `svhn summary --json` ("an interface other tools rely on"): the object it shows, its elided
    layers aside, is the one the command prints: the same keys, and each layer shown as printed, number for number."""
    from dlexam.svhn.summary import network_summary

    text = (ROOT / "docs" / "svhn.md").read_text(encoding="utf-8")
    block = re.search(r"^```\n(\{\"input\".*?)^```", text, re.S | re.M).group(1)
    shown = json.loads(re.sub(r"#[^\n]*", "", block).replace("...,", ""))
    printed = json.loads(json.dumps(network_summary()))
    assert set(shown) == set(printed)
    assert {k: v for k, v in shown.items() if k != "layers"} == {k: v for k, v in printed.items() if k != "layers"}
    by_name = {layer["name"]: layer for layer in printed["layers"]}
    differ = [layer for layer in shown["layers"] if by_name.get(layer["name"]) != layer]
    assert len(shown["layers"]) >= 4 and differ == [], differ


def test_what_the_readmes_first_commands_quote_is_what_they_print(capsys, monkeypatch):
    """A first command whose comment quotes its output (`dlexam geoff --explain "P[3,0]"  # ... "the scores 0, 0,
    0, 0 tie ... 1/4 each"`) prints every piece of that quote (pieces split at `...`)."""
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^## First commands\n+```sh\n(.*?)^```", readme, re.S | re.M).group(1)
    checked = 0
    for line in block.splitlines():
        command, _, comment = line.partition("  #")
        quote = re.search(r'"([^"]+)"', comment)
        if not quote or not command.startswith("dlexam geoff"):
            continue  # geoff's answers are milliseconds; the others are checked elsewhere
        printed = _run(shlex.split(command)[1:], capsys, monkeypatch)
        pieces = [p.strip() for p in quote.group(1).split("...")]
        assert [p for p in pieces if p not in printed] == [], f"README.md: {command.strip()}"
        checked += 1
    assert checked >= 1
