"""Section: the sorting transformers' attention, step by step, while they deduplicate and sort.

Two models on the same input: the compiled sorter (:func:`dlexam.sorting.compiled.compile_sorter`,
hand-set exact weights in Geoff's architecture, argmax attention) and the trained sorter shipped with
dlexam (:mod:`dlexam.sorting.shipped`: trained by :func:`dlexam.sorting.train.train` with softmax
attention, as Problem 2.5 requires). For each decoding step the page shows which positions the query
attends to and what it emits; the trained model's exact match is
:func:`dlexam.sorting.evaluate.evaluation_report`'s, as `dlexam sort evaluate --trained` prints it.
"""

from __future__ import annotations

from collections import Counter

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


def attention_heatmap(a, title: str) -> dict:
    """The heatmap of the attention rows of the decoding steps (layer 1, head 1) over all positions, as
    :func:`dlexam.report.plots.heatmap`'s arguments."""
    labels = [f"{i + 1} {t}" for i, t in enumerate(a.tokens)]
    p = np.asarray(a.P, dtype=np.float64)[0, 0]  # (T, T)
    rows = [step.position for step in a.steps]
    hidden = np.triu(np.ones_like(p, dtype=bool), k=1)[rows]
    return {"matrix": p[rows], "title": title, "row_labels": [labels[r] for r in rows], "col_labels": labels,
            "masked": hidden, "row_title": plots.ATTENTION_AXES[0], "col_title": plots.ATTENTION_AXES[1]}


def attention_figure(a, title: str, caption: str) -> str:
    """The attention heatmap (:func:`attention_heatmap`) with its caption and alt text."""
    labels = [f"{i + 1} {t}" for i, t in enumerate(a.tokens)]
    rows = [step.position for step in a.steps]
    png = plots.heatmap(**attention_heatmap(a, title))
    alt = (f"Heatmap “{title}”: {len(rows)} rows, the decoding steps (queries "
           f"{', '.join(labels[r] for r in rows)}), by the {len(labels)} positions of “{' '.join(a.tokens)}” "
           "(columns), each cell labelled with its weight.")
    return page.figure(png, f"{caption} It emits “{' '.join(a.output)}”.", alt=alt)


def build(ctx: ReportContext) -> str:
    from dlexam.sorting.compiled import compile_sorter
    from dlexam.sorting.evaluate import evaluation_report, heldout_inputs
    from dlexam.sorting.inspect import attention_steps
    from dlexam.sorting.shipped import load_shipped
    from dlexam.sorting.sizes import parse_lengths
    from dlexam.sorting.vocab import Vocabulary

    vocab = Vocabulary.from_spec()  # the exam's symbols
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
        sorter = load_shipped()
        model, record = sorter.model, sorter.training
        tc = record["train_config"]
        t_model = model.temperature()  # what training ended at, kept for decoding
        lengths = f"1-{2 * sorter.max_len}"  # up to twice the longest training input
        per_length = ctx.settings.pick(full=500, quick=200, tiny=50)
        seed = ctx.settings.seed
        report = evaluation_report(sorter, lengths, samples=per_length, seed=seed)
        # the same draws (same lengths, samples, seed): a short length has few held-out sequences, drawn again and
        # again (A-D's length 2: 16 sequences in all), so each row says how many distinct inputs its accuracy is of
        drawn = heldout_inputs(sorter.vocab, parse_lengths(lengths), per_length, seed)
        distinct = Counter(len(x) for x in set(map(tuple, drawn)))
        soft, zero = report["results"]  # the model's own temperature, then T = 0
        t_steps = attention_steps(model, vocab, inputs)
        got_t = " ".join(t_steps.output)
        acc_rows = [(n, distinct[int(n)], f"{soft['per_length'][n]:.1%}", f"{zero['per_length'][n]:.1%}")
                    for n in soft["per_length"]]
        acc_rows.append(("all", sum(distinct.values()), f"{soft['overall']:.1%}", f"{zero['overall']:.1%}"))
        missing = ", ".join(map(str, report["lengths_without_heldout_sequences"]))
        return (
            '<h3 id="sorting-trained">A trained sorter (softmax attention)</h3>'
            + page.paragraph(
                f"The same architecture trained from random weights with teacher forcing for {tc['steps']} steps "
                f"(batch {tc['batch_size']}, inputs of length 0-{sorter.max_len}, "
                f"{record['train_seconds']:.0f} s), with softmax attention whose temperature is annealed from "
                f"4√d_head to T = {t_model:g}, kept for decoding (argmax attention would give W_Q and W_K no "
                f"gradient, Problem 2.5). It is the sorter shipped with dlexam, rebuilt bit for bit by "
                f"`{record['command']}`. On the example it emits “{got_t}” "
                f"({'correct' if got_t == expected else 'expected ' + expected})."
            )
            + page.figure_row([attention_figure(
                t_steps, "trained sorter: attention per decoding step",
                f"The learned attention at the model's T = {t_model:g}; rows are decoding "
                "steps, grey is masked.")])
            + steps_table(t_steps)
            + page.table(acc_rows, ("input length", "distinct inputs", f"exact match, T = {t_model:g}",
                                    "exact match, T = 0 (argmax)"),
                         caption=f"Held-out exact-match accuracy ({per_length} random held-out inputs per length, "
                                 "drawn with repetition: a short length has few distinct ones, "
                                 f"`dlexam sort evaluate --trained --lengths {lengths} --samples {per_length} "
                                 f"--seed {seed}`; "
                                 f"training saw lengths 0-{sorter.max_len}"
                                 + (f"; length {missing} has no held-out inputs: all were trained on)" if missing
                                    else ")"))
        )

    parts.append(ctx.guard("trained sorter", trained_part))
    return "".join(parts)
