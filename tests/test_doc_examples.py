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
import re
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
