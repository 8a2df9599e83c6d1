"""Checks every experiment's result must pass (shared by the per-experiment tests)."""

from __future__ import annotations

import json
from pathlib import Path

from dlexam.experiments.results import RESULT_FILE, VERDICTS
from dlexam.figures import narrow_name

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_result(result: dict, out_dir: Path, name: str) -> None:
    assert result["name"] == name
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
        said = result["captions"][p.name]  # what it shows, in words: not its file name
        assert len(said["alt"].split()) >= 8 and len(said["caption"].split()) >= 8
        assert ".png" not in said["alt"] + said["caption"]
    on_disk = json.loads((out_dir / RESULT_FILE).read_text())
    assert on_disk == json.loads(json.dumps(result))
    leftovers = [p.name for p in out_dir.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers
