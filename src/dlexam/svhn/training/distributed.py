"""The ranks of a distributed run (torchrun): joining the process group, waiting for each other, comparing.

:func:`setup_distributed` joins the group torchrun describes (world 1 when not under torchrun) and says where this
process sits (:class:`Dist`); :func:`wait_for_every_rank` waits in Python, where a Ctrl-C stops a rank at once;
:func:`ranks_differing` and :func:`all_reduce` compare and sum across the ranks; :func:`first_to_say` picks the one
rank that says why a run stops.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

from dlexam.cpu import torchrun_world


@dataclass
class Dist:
    """Where this process sits in a distributed run (world 1 = not distributed)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_JOINED: list[bool] = []  # non-empty once this process has joined a process group (setup_distributed)


def joined_a_group() -> bool:
    """Whether this process has joined a torchrun process group (even if it has left it since): such a process
    ends without Python's shutdown (:func:`dlexam.cli.run` says why)."""
    return bool(_JOINED)


def setup_distributed() -> Dist:
    """Join the process group torchrun describes in the environment; world 1 when not under torchrun."""
    rank, world = torchrun_world()
    if world <= 1:
        return Dist(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if not torch_dist.is_initialized():
        with _stop_signals_end_the_process():
            torch_dist.init_process_group(backend=backend)
        _JOINED.append(True)
    return Dist(rank=rank, world=world, device=device)


@contextlib.contextmanager
def _stop_signals_end_the_process() -> Iterator[None]:
    """While the ranks join (blocked inside torch's rendezvous, where no Python signal handler runs), SIGINT and
    SIGTERM end this process at once, as their default actions do: nothing is open yet to close. With the command
    line's handlers a rank waiting there for one that never came held them until torchrun's SIGKILL, 30 s after its
    SIGTERM. A signal the process was started ignoring stays ignored."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for signum, handler in saved.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def wait_for_every_rank(d: Dist, name: str, poll_s: float = 0.05) -> None:
    """Under DDP, wait until every rank has come to the point `name` (once per run), in Python: a Ctrl-C or SIGTERM
    stops this rank at once, where a collective blocked inside gloo (or NCCL) holds it until the slowest rank comes
    (a rank reading a large --data: minutes). The ranks count themselves in the process group's store, so a rank
    stopped here leaves no collective pending (gloo's process group waits for one before the process may exit).
    A rank that never comes: torchrun ends this one (SIGTERM, when that rank has died), or the store's host is gone
    (its error, a DistError), or the group's own timeout passes (RuntimeError, "timed out")."""
    if d.world <= 1:
        return
    from torch.distributed import distributed_c10d

    store = _group_store()
    key = f"dlexam/{name}"
    store.add(key, 1)
    deadline = time.monotonic() + distributed_c10d.default_pg_timeout.total_seconds()
    while store.add(key, 0) < d.world:
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for every rank at {name}")
        time.sleep(poll_s)


def _group_store():
    """The joined process group's key-value store (torchrun's agent keeps it), where the ranks count themselves
    (:func:`wait_for_every_rank`, :func:`first_to_say`). torch exposes it only privately: this is the one place
    that reaches for it."""
    from torch.distributed import distributed_c10d

    return distributed_c10d._get_default_store()


SAID = "dlexam/said"  # the process group's store key the ranks count their last words in (first_to_say)


def first_to_say() -> bool:
    """Under torchrun, once the ranks have joined: whether this rank is the first of the run to say why it stops
    (counted in the process group's store, which torchrun's agent keeps while ranks come and go). One rank that
    refuses, is interrupted or loses a peer says so; the others, stopped by it (torchrun's SIGTERM, a connection
    closed) say nothing more. True where no group is joined or its store cannot be reached: better a second line
    than none."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return True
    try:
        import datetime

        store = _group_store()
        store.set_timeout(datetime.timedelta(seconds=5))
        return store.add(SAID, 1) == 1
    except Exception:  # the store's host is gone (not torchrun's agent): say it
        return True


def ranks_differing(text: str, d: Dist) -> list[int]:
    """The ranks whose `text` differs from rank 0's, compared by SHA-256 over the process group (every rank calls
    it, and every rank gets the same answer); none in a world of 1."""
    if d.world <= 1:
        return []
    mine = torch.tensor(list(hashlib.sha256(text.encode()).digest()), dtype=torch.uint8, device=d.device)
    every = [torch.empty_like(mine) for _ in range(d.world)]
    torch_dist.all_gather(every, mine)
    return [r for r in range(1, d.world) if not torch.equal(every[r], every[0])]


def all_reduce(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.world > 1:
        t = t.to(d.device)
        torch_dist.all_reduce(t)
    return t.cpu()
