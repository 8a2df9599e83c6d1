"""Where each answer's evidence can be seen live: a question id -> the page state that shows it.

The /answers page links each of the 20 questions to one of the app's pages with its state in the
URL (Pr2.4 opens /geoff with two heads, Pr2.5 with the gradients, Problem 1's questions open /cnn,
...). Questions whose evidence no page draws (a counterexample search, an RNN's gradient) have no
link: their evidence is the answer's own JSON, shown under it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from dlexam.sorting.vocab import EXAM_VOCAB
from dlexam.spec import ExamSpec, Pool

_T = ExamSpec.version_a().transformer
EXAM_SEQUENCE = " ".join(_T.example)  # "D A A <START> A D <STOP>"
_INPUT, _OUTPUT = " ".join(_T.example_input), " ".join((*_T.example_target, _T.stop))  # "D A A", "A D <STOP>"
_C, _H, _W = ExamSpec.version_a().cnn.feature_shape  # the map the head reads (16 x 3 x 3)
_MAP, _CLASSES = f"{_H}x{_W}x{_C}", ExamSpec.version_a().cnn.num_classes
_K = _T.heads  # Problem 2.4's heads (2)
_LAST_POOL = [la.name for la in ExamSpec.version_a().cnn.layers if isinstance(la, Pool)][-1]  # "AvgPool-2"


def geoff(panel: str = "", **params) -> str:
    """/geoff with the exam's example and `params`, landing on `panel` (the page scrolls there once drawn)."""
    return "/geoff?" + urlencode({"seq": EXAM_SEQUENCE, **params}) + (f"#{panel}" if panel else "")


LINKS: dict[str, tuple[str, str]] = {
    # question id -> (the page state, what it shows)
    "P1.1": (geoff(T="0.5"), "softmax(s/T) at a temperature you set: move T towards 0 and P becomes argmax"),
    "P1.8": (geoff("heads-panel", T="0", heads=_K), f"{_K} heads of attention computed side by side"),
    "Pr1.1": ("/cnn", "average pooling's feature maps after Conv-1 and Conv-2"),
    "Pr1.2": ("/cnn#layers", "the layer table: every layer's trainable weights, counted from the model"),
    "Pr1.3": ("/cnn#layers", f"the shapes through the CNN: {_MAP} = {_C * _H * _W} inputs to the linear layer"),
    "Pr1.4": ("/cnn#layers",
              f"the {_MAP} map after {_LAST_POOL} that a {_H}x{_W} convolution turns into {_CLASSES} logits"),
    "Pr2.1": ("/sort?" + urlencode({"seq": _INPUT, "vocab": EXAM_VOCAB}),
              "the compiled solver sorts without positional encodings: order is not needed"),
    "Pr2.2": (geoff("matrices-panel", T="0"), "the causal argmax attention matrix P"),
    "Pr2.3": (geoff("loss-panel", T="0"), f"the loss of '{_OUTPUT}' under both conventions"),
    "Pr2.4": (geoff("heads-panel", T="0", heads=_K), f"{_K} identical heads with the exam's W_O' next to one head"),
    "Pr2.5": (geoff("grad-panel", T="0", grad="1"),
              "the gradients at T = 0, and a gradient step that leaves W_Q and W_K"),
}


def links() -> dict[str, dict[str, str]]:
    """{question id: {"url": page state, "shows": what it shows}} for the questions a page illustrates."""
    return {qid: {"url": url, "shows": shows} for qid, (url, shows) in LINKS.items()}
