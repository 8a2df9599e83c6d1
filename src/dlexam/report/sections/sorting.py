"""Section: the sorting transformers' attention, step by step, while they deduplicate and sort.

Two models on the same input: the compiled sorter (:func:`dlexam.sorting.compiled.compile_sorter`,
hand-set exact weights in Geoff's architecture, argmax attention) and a model trained by
:func:`dlexam.sorting.train.train` (softmax attention while training, as Problem 2.5 requires).
For each decoding step the page shows which positions the query attends to and what it emits.
"""

from __future__ import annotations

import numpy as np

from dlexam.report import page, plots
from dlexam.report.context import ReportContext

EXAMPLE = "D A C A B D"  # an A-D input with repeats, in no order


def steps_table(a) -> str:
    """One row per decoding step: the query token, where its attention goes, what it emits."""
    rows = []
    for i, step in enumerate(a.steps, 1):
        weights = np.asarray(step.weights[0])  # layer 1, head 1: (position + 1,)
        top = np.argsort(-weights, kind="stable")
        attended = [f"{j + 1} {a.tokens[j]} ({plots.cell_label(weights[j])})" for j in top if weights[j] >= 0.05]
        rows.append((i, f"{step.position + 1} {step.query}", ", ".join(attended[:4]) or "spread out",
                     step.produced))
    return page.table(rows, ("step", "query (position, token)", "attends to (weight ≥ 0.05)", "emits"))


def attention_figure(a, title: str, caption: str) -> str:
    """Heatmap of the attention rows of the decoding steps (layer 1, head 1) over all positions."""
    labels = [f"{i + 1} {t}" for i, t in enumerate(a.tokens)]
    p = np.asarray(a.P, dtype=np.float64)[0, 0]  # (T, T)
    rows = [step.position for step in a.steps]
    hidden = np.triu(np.ones_like(p, dtype=bool), k=1)[rows]
    png = plots.heatmap(p[rows], title=title, row_labels=[labels[r] for r in rows], col_labels=labels,
                        masked=hidden)
    return page.figure(png, caption)


def build(ctx: ReportContext) -> str:
    from dlexam.sorting.compiled import compile_sorter
    from dlexam.sorting.evaluate import evaluate
    from dlexam.sorting.inspect import attention_steps
    from dlexam.sorting.train import TrainConfig, train
    from dlexam.sorting.vocab import Vocabulary

    vocab = Vocabulary.from_spec("A-D")
    inputs = vocab.parse(EXAMPLE)
    expected = vocab.format(sorted(set(inputs)))
    parts = [page.paragraph(
        f"The input “{EXAMPLE}” followed by <START>; the model emits one token per step until <STOP>. "
        f"Each row below is one decoding step (the query at the last token so far); the answer should "
        f"be “{expected}”."
    )]

    compiled = compile_sorter(vocab.n_symbols)
    c_steps = attention_steps(compiled, vocab, inputs)
    got = " ".join(c_steps.output)
    parts.append('<h3 id="sorting-compiled">The compiled sorter (argmax attention, hand-set weights)</h3>')
    parts.append(page.paragraph(
        f"Geoff's architecture with one-hot embeddings and hand-set W_Q, W_K, W_V, W_O. It emits “{got}” "
        f"({'correct' if got == expected else 'WRONG: expected ' + expected}). At each step the query "
        "puts all its weight on the copies of the smallest symbol greater than the last one emitted, "
        "or on <START> when none is left, which yields <STOP>."
    ))
    parts.append(page.figure_row([attention_figure(
        c_steps, "compiled sorter: attention per decoding step",
        "Rows: decoding steps; columns: positions; grey: not yet visible (causal mask). Tied scores "
        "share the weight equally (two copies of a symbol get 1/2 each).")]))
    parts.append(steps_table(c_steps))

    def trained_part() -> str:
        s = ctx.settings
        steps = s.pick(full=2000, quick=400, tiny=150)
        tc = TrainConfig(vocab="A-D", max_len=8, steps=steps, batch_size=128, seed=s.seed)
        run = train(tc)
        model = run.model
        model.eval()
        t_model = model.temperature()  # what training ended at, kept for decoding
        lengths = list(range(1, 2 * tc.max_len + 1))  # up to twice the longest training input
        per_length = s.pick(full=500, quick=200, tiny=50)
        acc_soft = evaluate(model, vocab, lengths, per_length=per_length)
        acc_zero = evaluate(model, vocab, lengths, per_length=per_length, temperature=0.0)
        t_steps = attention_steps(model, vocab, inputs)
        got_t = " ".join(t_steps.output)
        # lengths whose every input was seen in training have no held-out inputs (length 1: 4 inputs)
        acc_rows = [(n, f"{acc_soft['per_length'][n]:.1%}", f"{acc_zero['per_length'][n]:.1%}") for n in lengths
                    if n in acc_soft["per_length"]]
        acc_rows.append(("all", f"{acc_soft['overall']:.1%}", f"{acc_zero['overall']:.1%}"))
        return (
            '<h3 id="sorting-trained">A trained sorter (softmax attention)</h3>'
            + page.paragraph(
                f"The same architecture trained from random weights with teacher forcing for {steps} steps "
                f"(batch {tc.batch_size}, inputs of length 1-{tc.max_len}) in {run.seconds:.1f} s, "
                f"with softmax attention whose temperature is annealed from 4√d_head to T = {t_model:g}, "
                f"kept for decoding (argmax attention would give W_Q and W_K no gradient, Problem 2.5). "
                f"On the example it emits “{got_t}” "
                f"({'correct' if got_t == expected else 'expected ' + expected})."
            )
            + page.figure_row([attention_figure(
                t_steps, "trained sorter: attention per decoding step",
                f"The learned attention at the model's T = {t_model:g}; rows are decoding "
                "steps, grey is masked.")])
            + steps_table(t_steps)
            + page.table(acc_rows, ("input length", f"exact match, T = {t_model:g}", "exact match, T = 0 (argmax)"),
                         caption=f"Held-out exact-match accuracy ({per_length} random inputs per length; "
                                 f"training saw lengths 1-{tc.max_len})")
        )

    parts.append(ctx.guard("trained sorter", trained_part))
    return "".join(parts)
