"""CPU settings for the project's many small models.

On a 2-core machine, tiny tensors gain nothing from a second intra-op thread, and when other
processes keep the cores busy OpenMP's spinning threads make a step 10-50x slower (measured in the
answer key, the report and the experiments). :func:`torch_threads` runs a block on a fixed number
of threads, optionally with denormals flushed to zero, and restores both afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(threads: int = 1, *, flush_denormal: bool = False) -> Iterator[None]:
    """Run with `threads` intra-op threads (and denormals flushed to zero if asked); then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    if flush_denormal:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        if flush_denormal:
            torch.set_flush_denormal(False)
