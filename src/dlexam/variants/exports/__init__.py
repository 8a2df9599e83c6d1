"""A variant in the formats learning platforms import: PrairieLearn folders, Moodle XML, a Canvas QTI 1.2 zip.

Each function returns the files' bytes; `dlexam variant --out DIR` writes them.
"""

from dlexam.variants.exports.moodle import moodle_xml
from dlexam.variants.exports.prairielearn import prairielearn
from dlexam.variants.exports.qti import qti_zip

__all__ = ["moodle_xml", "prairielearn", "qti_zip"]
