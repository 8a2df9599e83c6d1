"""Section: the SVHN CNN of Problem 1: layer summary, learned conv-1 filters, learning curves, confusion."""

from __future__ import annotations

from dlexam.report.build import ReportContext


def build(ctx: ReportContext) -> str:
    from dlexam.svhn.model import layer_summary  # noqa: F401 - lands with the svhn package

    raise NotImplementedError("the CNN section waits for dlexam.svhn's training entry point")
