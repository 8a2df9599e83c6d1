"""The variants' tests run torch on one intra-op thread: their tensors are tiny, and on a shared 2-core machine a
second thread only waits (dlexam.cpu explains)."""

import pytest

from dlexam.cpu import torch_threads


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield
