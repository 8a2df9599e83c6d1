"""The shape of the code (docs/architecture.md), checked from the source: every import, including the
ones inside functions, points down the layers; no module cycles; the command line imports nothing
heavy until a command runs."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "dlexam"
MAP = SRC.parents[1] / "docs" / "architecture.md"

# Top to bottom. A module may import modules of its own layer or below, never above.
LAYERS = [
    ("edges", ["dlexam.cli", "dlexam.__main__", "dlexam.commands", "dlexam.report", "dlexam.serve"]),
    ("exam views", ["dlexam.answers", "dlexam.experiments", "dlexam.variants"]),
    ("models", ["dlexam.geoff", "dlexam.sorting", "dlexam.svhn"]),
    ("core", ["dlexam.transformer", "dlexam.attention", "dlexam.checkpoint", "dlexam.exact", "dlexam.figures",
              "dlexam.files", "dlexam.shared", "dlexam.progress", "dlexam.cpu", "dlexam.errors", "dlexam.limits",
              "dlexam.bounds", "dlexam.spec", "dlexam.runs", "dlexam.pools", "dlexam.plain", "dlexam.words",
              "dlexam.mathtext",
              "dlexam"]),  # the package's own __init__ only: a module the map does not place has no layer
]


def diagram_layers(text: str) -> dict[str, list[str]]:
    """The layers of docs/architecture.md's diagram, top to bottom: each layer's packages and modules, read from
    the names outside parentheses (a parenthesis says what a name holds: `spec/ (... exam.py ...)`)."""
    block = re.search(r"^```\n( edges.*?)^```", text, re.S | re.M).group(1)
    depth, kept = 0, []
    for ch in block:
        depth += (ch == "(") - (ch == ")")
        kept.append(ch if depth == 0 and ch not in "()" else "")
    layers: dict[str, list[str]] = {}
    current = None
    for line in "".join(kept).splitlines():
        if m := re.match(r"^ (edges|exam views|models|core)\s", line):
            current = m.group(1)
        if current:
            for name in re.findall(r"(?<![\w/.])([a-z_]+(?:/|\.py))(?!\w)", line):
                layers.setdefault(current, []).append("dlexam." + name.removesuffix("/").removesuffix(".py"))
    return layers


def test_the_layers_are_the_maps():
    """LAYERS is docs/architecture.md's diagram: the same layers in the same order, each with the same modules."""
    drawn = diagram_layers(MAP.read_text(encoding="utf-8"))
    assert list(drawn) == [name for name, _ in LAYERS]
    for name, modules in LAYERS:
        assert sorted(drawn[name]) == sorted(m for m in modules if m != "dlexam"), name
    moved = MAP.read_text(encoding="utf-8").replace("runs.py (the one run-folder service)", "")
    moved = moved.replace("svhn/              (Problem 1", "svhn/  runs.py  (Problem 1")
    assert "dlexam.runs" in diagram_layers(moved)["models"]  # the check sees a module drawn in another layer


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every dlexam module `path` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dlexam")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.startswith("dlexam"):
                # `from dlexam.x import y`: y may itself be a module
                for a in node.names:
                    found.add(f"{base}.{a.name}" if (SRC.parent / f"{base}.{a.name}".replace(".", "/")).exists()
                              or (SRC.parent / (f"{base}.{a.name}".replace(".", "/") + ".py")).exists() else base)
    return found


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}
GRAPH = {m: {i for i in imports_of(p) if i in MODULES and i != m} for m, p in MODULES.items()}


def layer_of(module: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or (prefix != "dlexam" and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer of docs/architecture.md"
    return best[0]


def test_every_module_has_a_layer():
    assert len(MODULES) > 50 and "dlexam.cli" in MODULES  # the source tree was found
    for m in MODULES:
        layer_of(m)


def test_imports_point_down():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {i} ({LAYERS[layer_of(i)][0]})"
              for m, deps in GRAPH.items() for i in deps if layer_of(i) < layer_of(m)]
    assert not upward, "\n".join(upward)


def test_only_the_edges_import_the_command_line():
    bad = [f"{m} imports {i}" for m, deps in GRAPH.items() for i in deps
           if i.startswith(("dlexam.cli", "dlexam.commands")) and not m.startswith(("dlexam.cli", "dlexam.commands",
                                                                                    "dlexam.__main__"))]
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    """Between modules (a package's __init__ re-exporting its own modules is not a cycle)."""
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for i in sorted(GRAPH[m]):
            if m.startswith(i + ".") or i.startswith(m + "."):  # a module and its own package
                continue
            if state.get(i) == 1:
                cycles.append(" -> ".join(stack[stack.index(i):] + [i]))
            elif i not in state:
                visit(i, stack + [i])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert not cycles, "\n".join(cycles)


def test_the_library_prints_nothing():
    """No print() outside the edges (cli.py, commands/): library calls return data."""
    offenders = []
    for m, p in MODULES.items():
        if layer_of(m) == 0:
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{p.relative_to(SRC)}:{node.lineno}")
    assert not offenders, offenders


HEAVY = ("torch", "numpy", "matplotlib", "scipy", "PIL")


@pytest.mark.parametrize("command", [[], ["geoff"], ["sort"], ["svhn"], ["svhn", "train"], ["answers"],
                                     ["experiment"], ["report"], ["demo"], ["serve"],
                                     ["variant"], ["grade"]])
def test_help_imports_no_heavy_library(command):
    code = (
        "import sys\n"
        "from dlexam.cli import main\n"
        f"rc = main({command + ['--help']!r})\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert rc in (0, 2) and not heavy, heavy\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]


def test_one_reader_of_torchruns_rank_and_world_size():
    """docs/architecture.md: cpu.py is the one reader of torchrun's environment (`torchrun_world`, which refuses one
    torchrun would not make). `svhn train`'s command read RANK itself, with int(), until the 2026-12-07 docs audit;
    svhn/training/distributed.py read LOCAL_RANK so (a traceback for LOCAL_RANK=x on a GPU) until a later one."""
    readers = []
    for m, p in MODULES.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if (isinstance(node, ast.Constant) and node.value in ("RANK", "WORLD_SIZE", "LOCAL_RANK")
                    and m != "dlexam.cpu"):
                readers.append(f"{p.relative_to(SRC)}:{node.lineno}")
    assert readers == [], readers
