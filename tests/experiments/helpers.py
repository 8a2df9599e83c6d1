"""Checks every experiment's result must pass (shared by the per-experiment tests)."""

from __future__ import annotations

import json
from pathlib import Path

from dlexam.experiments.results import RESULT_FILE, VERDICTS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_result(result: dict, out_dir: Path, name: str) -> None:
    assert result["name"] == name
    assert result["quick"] is True
    assert result["verdict"] in VERDICTS
    assert len(result["claim"]) > 40 and result["claim_source"]
    assert len(result["finding"]) > 80
    assert result["table"] and all(isinstance(r, dict) for r in result["table"])
    assert len({tuple(r) for r in result["table"]}) == 1  # every row has the same columns
    assert result["figures"]
    for fig in result["figures"]:
        p = Path(fig)
        assert p.parent == out_dir.resolve()
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5_000
    on_disk = json.loads((out_dir / RESULT_FILE).read_text())
    assert on_disk == json.loads(json.dumps(result))
    leftovers = [p.name for p in out_dir.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers
