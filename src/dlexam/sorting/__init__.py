"""Dedup-and-sort transformers beyond the exam (Problem 2).

- :mod:`dlexam.sorting.vocab`: the vocabularies (``A-D``, ``A-Z``, ``N``) and parsing.
- :mod:`dlexam.sorting.compiled`: hand-set exact weights in the exam's minimal architecture.
- :mod:`dlexam.sorting.decode`: batched greedy decoding, with a KV cache or recomputing the prefix.
- :mod:`dlexam.sorting.data`: random multisets, batches, the held-out split.
- :mod:`dlexam.sorting.config`: the training recipe, :class:`TrainConfig` and its checks.
- :mod:`dlexam.sorting.train`: training with teacher forcing, checkpoints, exact resume.
- :mod:`dlexam.sorting.trained`: a trained checkpoint read back (the model, whether training finished).
- :mod:`dlexam.sorting.evaluate`: exact match on held-out inputs, the reports of `sort train` and `sort evaluate`.
- :mod:`dlexam.sorting.inspect`: attention matrices step by step, for the report.
- :mod:`dlexam.sorting.demo`: the short demonstration in ``dlexam demo``.
"""
