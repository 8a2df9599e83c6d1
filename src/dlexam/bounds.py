"""The accepted range of every number a user sets on the command line, as :class:`dlexam.limits.Span`: light (no
torch), so that each command's --help states a flag's range from the very bounds its check uses, in the check's own
words (``Span.words``: "a whole number in [1, 65536]", "a number in (0, 10]"; a temperature's ``Temperatures.words``:
"0, a number in (0, inf), or 'sqrt'").

The modules that check a setting (the transformer's and the trainers' configs, the data writers, the server)
import their bounds from here; beyond these a setting is a typo, not a choice.
"""

from __future__ import annotations

import math

from dlexam.limits import SEED, Span, Temperatures

__all__ = ["SEED"]

# The transformer (dlexam.transformer.TransformerConfig)
MAX_VOCAB, MAX_WIDTH, MAX_HEADS, MAX_LAYERS, MAX_FF, MAX_POSITIONS = 100_000, 4096, 64, 64, 65_536, 1_000_000
WIDTH = Span(1, MAX_WIDTH, whole=True)
HEADS = Span(1, MAX_HEADS, whole=True)
LAYERS = Span(1, MAX_LAYERS, whole=True)
FEED_FORWARD = Span(0, MAX_FF, whole=True)

# The sorter's training (dlexam.sorting.config.TrainConfig) and evaluation (dlexam.sorting.evaluate)
MAX_TRAIN_LEN, MAX_STEPS, MAX_BATCH, MAX_LR, MAX_WEIGHT_DECAY, MAX_TEMPERATURE = 512, 10**7, 65_536, 10.0, 1000.0, 1e6
MAX_SORT_SEED = 2**63 - 1
TRAIN_LEN = Span(1, MAX_TRAIN_LEN, whole=True)
STEPS = Span(1, MAX_STEPS, whole=True)
BATCH = Span(1, MAX_BATCH, whole=True)
SORT_LR = Span(0, MAX_LR, lo_open=True)
WEIGHT_DECAY = Span(0, MAX_WEIGHT_DECAY)
WARMUP = Span(0, MAX_STEPS, whole=True)
LABEL_SMOOTHING = Span(0, 1, hi_open=True)
HARD_FRACTION = Span(0, 1)
TRAIN_TEMPERATURE = Span(0, MAX_TEMPERATURE, lo_open=True)  # --hard-temperature
# --temperature-start, --temperature-end: the ends of the annealing schedule, softmax (no 0), or sqrt(d_head)
SCHEDULE_TEMPERATURES = Temperatures(TRAIN_TEMPERATURE)
SORT_SEED = Span(0, MAX_SORT_SEED, whole=True)
CHECKPOINT_EVERY = Span(0, MAX_STEPS, whole=True)
MAX_LENGTH, MAX_SAMPLES, MAX_TOKENS = 4096, 1_000_000, 20_000_000
SAMPLES = Span(1, MAX_SAMPLES, whole=True)

# The exam CNN's training (dlexam.svhn.training.settings.SVHNRun), its data and Problem 1.3's head
MAX_EPOCHS, MAX_SVHN_BATCH, MAX_SVHN_LR = 100_000, 65_536, 10.0
EPOCHS = Span(1, MAX_EPOCHS, whole=True)
SVHN_BATCH = Span(1, MAX_SVHN_BATCH, whole=True)
SVHN_LR = Span(0, MAX_SVHN_LR, lo_open=True)
VAL_FRACTION = Span(0, 1, hi_open=True)
MAX_IMAGES = 1_000_000  # per split: 3 GB of RGB in memory while it is written
IMAGES = Span(1, MAX_IMAGES, whole=True)
MNIST_T10K = 10_000  # digits in MNIST's t10k files (data/mnist-t10k)
MNIST_TRAIN = Span(1, MNIST_T10K - 1, whole=True)  # `svhn mnist --train N`: N train, the rest test (one at least)
MAX_LINEAR_IN = 1_000_000  # Problem 1.3's wrong in-features: enough to show any mistake, 40 MB at most
LINEAR_IN = Span(1, MAX_LINEAR_IN, whole=True)

# The temperature a model is asked at (attention.parse_temperature): `geoff --temperature`, `sort --temperature`, `sort
# evaluate --temperature`, /api/geoff's T, /api/sort's temperature. 0 (argmax), any finite number above 0, or 'sqrt'.
# No top but float64's (about 1.8e308; a number past it is refused as float64 cannot hold it, limits.float_text): at
# T = 1e300 softmax is uniform and Geoff's gradient norms stay right (tests/test_geoff_norms_explain.py).
QUERY_TEMPERATURES = Temperatures(Span(0, math.inf, lo_open=True, hi_open=True), argmax=True)

# Geoff's transformer: one gradient step (dlexam.geoff.model.sgd_step)
GEOFF_LR = Span(0, 100, lo_open=True)

# A variant's seed (dlexam.variants.build.check_seed)
MAX_VARIANT_SEED = 2**63 - 1
VARIANT_SEED = Span(0, MAX_VARIANT_SEED, whole=True)

# The server (dlexam serve)
PORT = Span(0, 65535, whole=True)
MAX_WORKERS = 16
WORKERS = Span(0, MAX_WORKERS, whole=True)
