"""`make_variant(seed)`: draw an exam, check it, draw again until every check passes.

Draw number n of seed N uses the random stream named "N:difficulty:n", so a variant depends on its seed and
difficulty only. Every failed draw is kept with the checks it failed: ``dlexam variant --explain`` shows them.
"""

from __future__ import annotations

import functools
import random
from dataclasses import replace

from dlexam.bounds import VARIANT_SEED
from dlexam.errors import UserError
from dlexam.spec import SpecError
from dlexam.variants import part1, problem1, problem2
from dlexam.variants.checks import CHECKS, computed_failures, draw_failures, exact_failures
from dlexam.variants.draw import DIFFICULTIES, Difficulty, Draw, draw
from dlexam.variants.model import Attempt, Question, Variant

MAX_ATTEMPTS = 500  # a seed whose draws all fail is refused (none does among the first 1,000 seeds)


def check_seed(seed) -> int:
    """`seed` as a variant's seed (:data:`dlexam.bounds.VARIANT_SEED`, which `--variant` and `variant --seed` state)."""
    return VARIANT_SEED.check("a variant's seed", seed)


def questions_of(d: Draw) -> list[Question]:
    """Every question of a draw, in the exam's order (Problem 2.5 only where the draw has its gradients)."""
    return [*part1.questions(d.spec, d), *problem1.questions(d.spec),
            *problem2.questions(d.spec, d.orders, d.gradients, d.remedy, d.asks)]


def gradients_of(d: Draw) -> dict:
    """Problem 2.5's gradients for a draw (:func:`dlexam.variants.evidence.zero_gradients`, on one thread: the
    tensors are tiny)."""
    from dlexam.cpu import torch_threads
    from dlexam.variants import evidence

    with torch_threads(1):
        return evidence.zero_gradients(d.spec)


def attempt(seed: int, difficulty: str, number: int, computed: bool = True) -> tuple[Draw | None, list, list[str]]:
    """Draw number `number` of a seed: the draw, its questions and the checks it fails."""
    rng = random.Random(f"{seed}:{difficulty}:{number}")
    try:
        d = draw(rng, Difficulty.named(difficulty), seed)
    except SpecError as exc:
        return None, [], [f"well_formed: {exc}"]
    failures = draw_failures(d)
    if failures:  # refused before any question is built
        return d, [], failures
    if computed:  # Problem 2.5's key: which gradients autograd gives exactly zero for these weights
        d = replace(d, gradients=gradients_of(d))
    qs = questions_of(d)
    failures = exact_failures(d, qs)
    if not failures and computed:
        failures = computed_failures(d, qs)
    return d, qs, failures


@functools.lru_cache(maxsize=32)
def make_variant(seed: int, difficulty: str = "standard", computed: bool = True) -> Variant:
    """The variant of `seed`: the first draw that passes every check (`computed=False` skips the torch checks,
    for a platform without torch; dlexam always runs them)."""
    seed = check_seed(seed)
    if difficulty not in DIFFICULTIES:
        raise UserError(f"--difficulty must be one of {', '.join(DIFFICULTIES)}, got {difficulty!r}")
    attempts = []
    for number in range(1, MAX_ATTEMPTS + 1):
        d, qs, failures = attempt(seed, difficulty, number, computed)
        attempts.append(Attempt(number, failures))
        if not failures:
            return Variant(seed=seed, difficulty=difficulty, spec=d.spec, questions=tuple(qs), attempts=attempts,
                           checks=dict(CHECKS), draw=d)
    raise UserError(f"no well-posed variant in {MAX_ATTEMPTS} draws of seed {seed}: try another seed")
