"""The training loop's fast paths give the numbers of the plain ones: the batch gathered and standardised
by the kernels (now or on their worker threads) against dlexam.svhn.data.official.preprocess, and the
loop's cross entropy against F.cross_entropy, bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlexam.svhn.data.official import image_stats, preprocess
from dlexam.svhn.kernels import fused
from dlexam.svhn.training.batches import Batches, batch
from dlexam.svhn.training.step import cross_entropy_sum

pytestmark = pytest.mark.skipif(not fused.available(), reason=f"fused kernel unavailable: {fused.status()}")


def data(n: int = 3000, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 32, 32), dtype=torch.uint8, generator=g)
    images[7] = 200  # a flat image: std 0, the +1 keeps it finite
    return images, image_stats(images)


@pytest.mark.parametrize("threads", [1, 2])
def test_standardise_is_preprocess_bit_for_bit(threads):
    images, (mean, std) = data()
    idx = torch.cat([torch.tensor([7, 0, 2999]), torch.randperm(3000)[:250]])
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        want = preprocess(images[idx], mean[idx], std[idx])
        assert torch.equal(fused.standardise(images, idx, mean, std), want)
        pending = fused.start_standardise(images, idx, mean, std)
        assert torch.equal(pending.result(), want) and torch.equal(pending.result(), want)
    finally:
        torch.set_num_threads(before)


def test_standardise_refuses_an_index_outside_the_images_and_declines_what_it_does_not_compute():
    images, (mean, std) = data(100)
    with pytest.raises(IndexError, match="outside the 100 images"):
        fused.standardise(images, torch.tensor([0, 100]), mean, std)
    with pytest.raises(IndexError):
        fused.start_standardise(images, torch.tensor([-1]), mean, std)
    assert fused.standardise(images.float(), torch.tensor([0]), mean, std) is None  # not uint8: the caller's path
    assert fused.standardise(images, torch.tensor([0]), mean.double(), std) is None


def test_the_loops_batches_are_the_plain_ones():
    """Each batch the loop takes, the next one started while a step runs, equals batch()'s."""
    images, stats = data()
    order = torch.randperm(3000)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        batches = Batches(images, torch.device("cpu"), stats)
        batches.start(order[:256])
        for step in range(3):
            x = batches.take()
            batches.start(order[(step + 1) * 256 : (step + 2) * 256])
            want = batch(images, order[step * 256 : (step + 1) * 256], torch.device("cpu"), stats)
            assert torch.equal(x, want) and x.is_contiguous(memory_format=torch.channels_last)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("classes", [10, 3, 16])
@pytest.mark.parametrize("seed", range(5))
def test_cross_entropy_sum_is_f_cross_entropy(classes, seed):
    """Bit for bit for the exam's 10 classes (and 3); for 16, where PyTorch vectorises the row, to rounding."""
    torch.manual_seed(seed)
    logits = (torch.randn(256, classes) * (1 + 3 * seed)).requires_grad_()
    y = torch.randint(0, classes, (256,))
    want = F.cross_entropy(logits, y, reduction="sum")
    (want_grad,) = torch.autograd.grad(want, logits)
    got = cross_entropy_sum(logits, y)
    (got_grad,) = torch.autograd.grad(got, logits)
    if classes < 16:
        assert torch.equal(got, want) and torch.equal(got_grad, want_grad)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=0)
    torch.testing.assert_close(got_grad, want_grad, rtol=1e-5, atol=3e-7)  # softmax - one-hot: 2 ulps of 1


def test_own_threads_gives_the_kernels_the_threads_and_pytorch_one():
    from dlexam.svhn.model import ExamCNN

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with fused.own_threads(ExamCNN(fused=False)):  # PyTorch's layers: nothing changes
            assert torch.get_num_threads() == 2 and fused.kernel_threads() == 2
        with fused.own_threads(ExamCNN()):
            assert torch.get_num_threads() == 1 and fused.kernel_threads() == 2
        wrapper = torch.nn.Module()  # as DistributedDataParallel holds the model
        wrapper.module = ExamCNN()
        with fused.own_threads(wrapper):
            assert torch.get_num_threads() == 1 and fused.kernel_threads() == 2
        assert torch.get_num_threads() == 2 and fused.kernel_threads() == 2
    finally:
        torch.set_num_threads(before)
