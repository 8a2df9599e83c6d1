"""Part 1's computable items as data: P1.1's softmax, P1.4's convolution sizes, P1.6's RNN."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from dlexam.spec.numbers import Pair, SpecError, conv_output_size, number, pair

# ---- Part 1's computable items ----------------------------------------------------------------

@dataclass(frozen=True)
class SoftmaxItem:
    """P1.1: temp-softmax_T(z) = softmax(z / T); the option about T -> 0 uses this z."""

    z: tuple[Fraction, ...] = ()
    # The limit as T -> 0 that the item's statement claims for z (Version A: (1,0,0,0), true);
    # () means the true limit.
    claimed_limit: tuple[Fraction, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "z", tuple(number(v) for v in self.z))
        if len(self.z) < 2:
            raise SpecError("P1.1's z needs at least two components")
        claimed = tuple(number(v) for v in self.claimed_limit) or self.limit_at_zero()
        if len(claimed) != len(self.z):
            raise SpecError("P1.1's claimed limit must have as many components as z")
        object.__setattr__(self, "claimed_limit", claimed)

    def limit_at_zero(self) -> tuple[Fraction, ...]:
        """softmax(z / T) as T -> 0+: the largest components of z share the weight equally, the others get 0."""
        top = max(self.z)
        ties = sum(v == top for v in self.z)
        return tuple(Fraction(1, ties) if v == top else Fraction(0) for v in self.z)

    def limit_at_infinity(self) -> tuple[Fraction, ...]:
        """softmax(z / T) as T -> infinity: the uniform distribution."""
        return (Fraction(1, len(self.z)),) * len(self.z)


@dataclass(frozen=True)
class ConvSizeItem:
    """P1.4: a filter of `kernel` with `stride`, `padding`, on an input of `input_size` (all (rows, columns))."""

    input_size: Pair
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)
    options: tuple[Pair, ...] = ()  # the output sizes the item offers (rows, columns); () when it asks for the size

    def __post_init__(self) -> None:
        for name in ("input_size", "kernel", "stride", "padding"):
            object.__setattr__(self, name, pair(getattr(self, name), name))
        object.__setattr__(self, "options", tuple(pair(o, "an option") for o in self.options))
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise SpecError("P1.4 needs kernel and stride >= 1 and padding >= 0")
        if min(self.output_size()) < 1:
            raise SpecError(f"P1.4's {self.kernel} filter does not fit its {self.input_size} input")

    def output_size(self) -> Pair:
        return tuple(conv_output_size(n, f, s, p) for n, f, s, p in
                     zip(self.input_size, self.kernel, self.stride, self.padding, strict=True))


@dataclass(frozen=True)
class RNNItem:
    """P1.6: h_t = g(w h_{t-1} + a x_t), h_0 = 0, y_hat = h_T, loss (y_hat - y)^2 / 2; the SGD rule for
    `parameter` ("w" or "a") on a sequence of `length` elements."""

    length: int = 2
    parameter: str = "w"

    def __post_init__(self) -> None:
        if self.length < 1 or self.parameter not in ("w", "a"):
            raise SpecError("P1.6 needs length >= 1 and parameter 'w' or 'a'")


@dataclass(frozen=True)
class Part1Spec:
    softmax: SoftmaxItem
    conv_size: ConvSizeItem
    rnn: RNNItem
