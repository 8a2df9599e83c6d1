"""dlexam: the Deep Learning final exam of 2025-01-22 (version A), executable.

Problem 1 (the SVHN CNN) lives in :mod:`dlexam.svhn`, Problem 2 (Geoff's transformer)
in :mod:`dlexam.geoff` and :mod:`dlexam.sorting`, the answer key in :mod:`dlexam.answers`.
"""

__version__ = "0.1.0"
