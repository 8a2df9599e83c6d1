"""Problem 2's setting, as every one of its questions states it, and how its questions write the model's numbers.

A platform shows each question alone (PrairieLearn each with a variant of its own), so each of Problem 2's questions
opens with :func:`setting`: the model, its weights, the training example and the two conventions its answers depend
on (argmax attention, the loss). The rest is shared wording: a matrix's row and column labels as every view names
them (:func:`named`), vectors, factors and matrices in exact numbers, and a choice's options in the order a variant
shows them (:func:`in_order`, :func:`chosen`).
"""

from __future__ import annotations

from dlexam.spec import Matrix, TransformerSpec, text
from dlexam.spec.transformer import axes_of, labels_of, output_labels
from dlexam.variants.model import Text, matrix_table


def in_order(options: tuple[str, ...], order) -> tuple[str, ...]:
    """`options` in the order a variant shows them (`order`: a permutation; None: the exam's own order)."""
    return tuple(options[i] for i in (order or range(len(options))))


def chosen(options: tuple[str, ...], order, right: int | None) -> int:
    """The 1-based number of option `right` (an index into `options`) as shown; 0 (no correct option: the check
    one_correct_option refuses the draw) for None."""
    return 0 if right is None else in_order(options, order).index(options[right]) + 1


def named(t: TransformerSpec, name: str, positions=()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The matrix `name`'s (row labels, column labels), as every view names them
    (:data:`dlexam.spec.transformer.MATRIX_AXES`): E's columns and W_O's are one axis, the model's dimensions."""
    return labels_of(name, axes_of(t.vocab, t.E, t.d_head, t.heads), positions)


def labels(tokens) -> tuple[str, ...]:
    return tuple(f"{i + 1} {t}" for i, t in enumerate(tokens))


def vec(v) -> str:
    return "(" + ", ".join(text(x) for x in v) + ")"


def factor(x) -> str:
    """A number as a factor of a product written out: -1/2 in parentheses, so that "3 x (-1/2)" reads as one."""
    return f"({text(x)})" if x < 0 or "/" in text(x) else text(x)


def mat(m: Matrix) -> str:
    return "[" + "; ".join(", ".join(text(x) for x in r) for r in m) + "]"


EMBEDDING = "embedding matrix E"  # E's table's caption: "E (6x4)" beside a token E read as that token's table


def setting(t: TransformerSpec) -> list:
    """The model, as every question of Problem 2 states it, with the conventions their answers depend on (argmax
    attention, the loss): a platform shows each question alone, PrairieLearn each with a variant of its own."""
    outputs = output_labels(t.symbols, t.E)
    blocks = [
        Text(f"A small decoder-only transformer is meant to map a sequence of symbols to {t.goal.says}, followed "
             "by <STOP>. It has one self-attention layer with one head, no positional encodings, no feed-forward "
             "block and no residual connection. Attention is causal (a position sees itself and the positions "
             "before it)."),
        Text(f"The vocabulary is {', '.join(t.vocab)}; the embedding matrix E has one row per token, in that "
             f"order. The representation after attention is multiplied by W_O, and the logits are that result "
             f"times E^T." + (" E's columns, W_Q's rows and W_O's columns, the model's dimensions, are named after "
                              "the symbol whose row of E is that dimension's unit vector."
                              if set(outputs) <= set(t.symbols) else "")
             # a harder variant's fifth symbol is E, beside the matrix E: the names stay (every key prints them)
             + (" The symbol E is one of the tokens (a row of the matrix E"
                + (", and the name of one of its columns" if set(outputs) <= set(t.symbols) else "")
                + "); E alone, as in E^T and \"a row of E\", is the matrix." if "E" in t.symbols else "")),
        matrix_table(f"{EMBEDDING} ({len(t.vocab)}x{t.d_model})", t.E, *named(t, "E")),
        matrix_table(f"W_Q = W_K = W_V ({t.d_model}x{t.d_head})" if t.head.W_Q == t.head.W_K == t.head.W_V
                     else "W_Q", t.head.W_Q, *named(t, "W_Q")),
        matrix_table(f"W_O ({t.d_head}x{t.d_model})", t.W_O, *named(t, "W_O")),
        Text(f"The training example is \"{' '.join(t.example)}\": the input {' '.join(t.example_input)}, then "
             f"<START>, the target {' '.join(t.example_target)}, then <STOP>."),
        Text("Attention uses the zero-temperature limit of softmax(s/T): as T -> 0+, each row's weight goes to its "
             "largest visible scores, shared equally when several are tied (e.g. scores (4, 1, 4) give (1/2, 0, "
             "1/2))."),
        Text("The loss is the summed cross-entropy of the tokens after <START>, with teacher forcing: the logits at "
             "position t score the token at position t+1."),
    ]
    if not t.head.W_Q == t.head.W_K == t.head.W_V:
        blocks[4:4] = [matrix_table("W_K", t.head.W_K, *named(t, "W_K")),
                       matrix_table("W_V", t.head.W_V, *named(t, "W_V"))]
    return blocks
