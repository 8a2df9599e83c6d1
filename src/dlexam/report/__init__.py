"""The project's HTML report: one self-contained page with every figure embedded.

`build_report(out_dir, ReportSettings(quick=True))` writes `out_dir/index.html`. Sections (one
module each in :mod:`dlexam.report.sections`): the answer key, Geoff's matrices (Problem 2), the
sorting transformers' attention step by step, the SVHN CNN (Problem 1), and every experiment.
"""

from dlexam.report.build import ReportResult, ReportSettings, SectionSpec, build_report, default_sections

__all__ = ["ReportResult", "ReportSettings", "SectionSpec", "build_report", "default_sections"]
