"""Ranking settings by a score measured over several seeds, a lead told apart from the seeds' noise.

The batch-size experiment (Part 2, question 1) names the best batch size only where its lead over the next
is larger than the seeds' spread; otherwise the batch sizes that tie within noise.
"""

from __future__ import annotations

import numpy as np


def rank_batch_sizes(accuracy_by_seed: dict[int, list[float]]) -> dict:
    """Which batch sizes give the best test accuracy, a lead told apart from the seeds' noise.

    Each B's seeds give a mean and a spread (the best seed minus the worst). The best B is the one with the
    highest mean; another B ties with it when the two means differ by no more than the larger of their two
    spreads. With one seed no spread is measured (`spread_measured` False): nothing is ranked.
    """
    means = {b: float(np.mean(a)) for b, a in accuracy_by_seed.items()}
    spreads = {b: float(max(a) - min(a)) for b, a in accuracy_by_seed.items()}
    seeds = min(len(a) for a in accuracy_by_seed.values())
    best = max(means, key=means.get)
    tied = sorted(b for b in means if means[best] - means[b] <= max(spreads[best], spreads[b]))
    if seeds < 2:
        tied = [best]
    others = [b for b in means if b not in tied]
    return {"best": best, "tied": tied, "runner_up": max(others, key=means.get) if others else None,
            "mean": means, "spread": spreads, "worst": {b: float(min(a)) for b, a in accuracy_by_seed.items()},
            "seeds": seeds, "spread_measured": seeds >= 2}


def ranking_text(r: dict, when: str) -> str:
    """The finding's words for a :func:`rank_batch_sizes` result; `when` says which comparison ("after 2 epochs")."""
    best, mean, spread = r["best"], r["mean"], r["spread"]
    if not r["spread_measured"]:
        return (f"{when} the highest test accuracy is at B = {best} ({mean[best]:.1%}), from one seed: no spread "
                "is measured, so this ranks nothing")
    if len(r["tied"]) > 1:
        lo, hi = min(mean[b] for b in r["tied"]), max(mean[b] for b in r["tied"])
        return (f"{when} B in {{{', '.join(map(str, r['tied']))}}} tie within noise (mean test accuracy "
                f"{lo:.1%} to {hi:.1%} over {r['seeds']} seeds, a seed-to-seed spread of up to "
                f"{100 * max(spread[b] for b in r['tied']):.1f} points)")
    ru = r["runner_up"]
    if ru is None:
        return f"{when} only B = {best} was run ({mean[best]:.1%}, mean of {r['seeds']} seeds)"
    return (f"{when} the best is B = {best} ({mean[best]:.1%}, mean of {r['seeds']} seeds, worst seed "
            f"{r['worst'][best]:.1%}), ahead of B = {ru} ({mean[ru]:.1%}) by {100 * (mean[best] - mean[ru]):.1f} "
            f"points, more than either's seed-to-seed spread ({100 * max(spread[best], spread[ru]):.1f})")
