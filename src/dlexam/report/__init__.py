"""The project's HTML report: one self-contained page with every figure embedded.

`build_report(out_dir, ReportSettings(quick=True))` writes `out_dir/index.html`. Sections (one
module each in :mod:`dlexam.report.sections`, each a ``build(ctx) -> str`` with the
:class:`~dlexam.report.context.ReportContext` of :mod:`dlexam.report.context`): the answer key,
Geoff's matrices (Problem 2), the sorting transformers' attention step by step, the SVHN CNN
(Problem 1), and every experiment.
"""

from dlexam.report.build import ReportResult, build_report, default_sections
from dlexam.report.context import ReportContext, ReportSettings, SectionSpec

__all__ = ["ReportContext", "ReportResult", "ReportSettings", "SectionSpec", "build_report", "default_sections"]
