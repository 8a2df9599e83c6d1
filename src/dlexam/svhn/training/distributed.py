"""The ranks of a distributed run (torchrun): joining the process group, waiting for each other, comparing.

:func:`setup_distributed` joins the group torchrun describes (world 1 when not under torchrun) and says where this
process sits (:class:`Dist`); :func:`wait_for_every_rank` waits in Python, where a Ctrl-C stops a rank at once;
:func:`ranks_differing` and :func:`all_reduce` compare and sum across the ranks; :func:`first_to_say` picks the one
rank that says why a run stops, which marks it said (:func:`have_said_it`) for the others to wait for
(:func:`wait_for_the_speaker`). For `svhn train`'s run (:mod:`dlexam.svhn.training.runs`): :func:`agree` (every
rank's outcome of making the run ready, one refusal for all), :func:`same_on_every_rank` (the same data and
settings), :func:`peer_lost` (a collective failed because another rank is gone) and :func:`leave_group`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

from dlexam.cpu import torchrun_local_rank, torchrun_world
from dlexam.errors import EveryRank, UserError


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
        local = torchrun_local_rank(torch.cuda.device_count())
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


def _agent_store(timeout_s: float):
    """torchrun's own store (its agent's, where every rank of this attempt reaches it, joined to the process group
    or not): a client, or None where this process was not started by torchrun or the store cannot be reached."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True" or not torch_dist.is_available():
        return None
    import datetime

    try:
        return torch_dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                                   timeout=datetime.timedelta(seconds=timeout_s))
    except Exception:  # torchrun's agent is gone, or this is not its environment
        return None


def _spoken_key() -> str:
    """The store key a run's speaker marks once it has said why the run stops: one per torchrun run and attempt, so
    that a restarted attempt does not read the last attempt's mark."""
    return (f"dlexam/spoken/{os.environ.get('TORCHELASTIC_RUN_ID', '')}/"
            f"{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}")


def have_said_it() -> None:
    """Under torchrun: mark in torchrun's store that this rank has said why the run stops (its line is out), for
    :func:`wait_for_the_speaker`. Nothing where there is no such store."""
    store = _agent_store(5)
    if store is not None:
        with contextlib.suppress(Exception):
            store.set(_spoken_key(), "1")


def wait_for_the_speaker(timeout_s: float = 20, poll_s: float = 0.05) -> bool:
    """Under torchrun, on a rank that says nothing of why the run stops because another rank says it: wait until
    that rank has (:func:`have_said_it`). torchrun ends every rank as soon as one has exited (at its default, within
    0.1 s), so a silent rank that exited first could end the speaker before its line was out (2026-12-08: an agreed
    refusal said by no rank). False where no rank has said it within `timeout_s` (the speaker is stuck, or did not
    come to the refusal): this rank then says it itself, better a second line than none. True where there is no
    torchrun store to wait in (no torchrun to end the speaker either), or where a stop signal ends the wait (torchrun
    ends this rank because another has exited)."""
    store = _agent_store(5)
    if store is None:
        return True
    key = _spoken_key()
    deadline = time.monotonic() + timeout_s
    try:
        while not store.check([key]):
            if time.monotonic() > deadline:
                return False
            time.sleep(poll_s)
    except KeyboardInterrupt:  # Ctrl-C, or torchrun's SIGTERM (errors.Terminated): the run is ending anyway
        return True
    except Exception:  # the store is gone with torchrun's agent: no rank is left to end
        return True
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


def agree(d, refused: Exception | None, run_finished: bool | None) -> None:
    """Under DDP, every rank's outcome of making the run ready, gathered on every rank: where any rank refused,
    every rank raises the first refusal (by rank) as :class:`EveryRank`, which rank 0 says for all; where the ranks
    differ in whether the run is finished (each reads last.pt from its own --out), every rank refuses too.
    `run_finished`: whether this rank found the run finished (None where it refused).

    `refused` may be an unexpected error (not a UserError: a defect), which comes before any refusal. The first rank
    with one raises it as it is, its traceback printed; the others refuse with EveryRank, said by rank 0, or by
    rank 1 where the defect is rank 0's (until 2026-12-07 the others waited in this gather until that rank had gone,
    then failed inside gloo with a traceback of their own, or were stopped by torchrun without a word; then rank 0's
    defect was said by no rank, and every rank with a defect printed its traceback).

    The ranks first wait for each other in Python (:func:`wait_for_every_rank`), so that a Ctrl-C or SIGTERM on a
    rank waiting for a slower one stops it at once; a rank gone before the ranks agree is one line."""
    if d.world <= 1:
        return
    defect = refused is not None and not isinstance(refused, UserError)
    mine = (None if refused is None else _unexpected(refused) if defect else str(refused),
            run_finished, defect)
    every: list = [None] * d.world
    try:
        wait_for_every_rank(d, "ready")
        torch_dist.all_gather_object(every, mine)
    except RuntimeError as exc:
        if not peer_lost(exc, d):
            raise
        raise UserError("distributed training stopped before it began: another process of the run is gone "
                        f"({lost_how(exc)}); nothing was trained: run the command again") from None
    failed = [(r, said, bad) for r, (said, _, bad) in enumerate(every) if said is not None]
    failed.sort(key=lambda f: not f[2])  # a defect first, then by rank
    if failed:
        r, said, bad = failed[0]
        if bad and r == d.rank:
            raise refused
        raise EveryRank(said if r == 0 and not bad else f"distributed training, rank {r}: {said}",
                        speaker=1 if bad and r == 0 else 0)
    finished = [r for r, (_, done, _) in enumerate(every) if done]
    if finished and len(finished) < d.world:
        raise EveryRank(f"distributed training: {_ranks(finished)} found the run finished, the others not (each "
                        "rank reads --resume's last.pt from its own --out); every rank must see the same run folder")


def _unexpected(exc: Exception) -> str:
    """An unexpected error of one rank, as the other ranks say it: one line."""
    text = " ".join(str(exc).split())
    return (f"an unexpected error while making the run ready ({type(exc).__name__}"
            + (f": {text[:200]}" if text else "") + "); that rank's own traceback says where")


def same_on_every_rank(d, settings: dict, start_epoch: int) -> None:
    """Under DDP, refuse a rank that read other digits than rank 0 (each rank reads --data itself: on several
    machines, each its own copy), or that trains with other settings or from another epoch (its own --out's last.pt
    on resume): other digits trained on silently and were recorded as rank 0's; another number of images, or of
    epochs, left the ranks in different collectives (gloo's abort, or a hang). Every rank gets the same answer from
    the process group, so the refusal is an :class:`EveryRank`, which rank 0 says for all (until 2026-12-07 every
    rank printed the same line)."""
    if d.world <= 1:
        return
    data = ranks_differing(str(settings["data_sha256"]), d)
    if data:
        raise EveryRank(f"distributed training: {_ranks(data)} read other digits than rank 0 (another SHA-256 of the "
                        f"images and labels; rank {d.rank} read {settings['data']}); every process must read the same "
                        "data")
    shared = {"train": {k: v for k, v in settings["train"].items() if k != "threads"}, "model": settings["model"],
              **{k: settings.get(k) for k in ("val_fraction", "split_seed", "quick", "init_sha256")},
              "start_epoch": start_epoch}
    other = ranks_differing(json.dumps(shared, sort_keys=True, default=str), d)
    if other:
        raise EveryRank(f"distributed training: {_ranks(other)} would train with other settings than rank 0, or "
                        "resume another epoch (each rank reads --resume's last.pt from its own --out); every process "
                        "must be started with the same flags and, on resume, see the same run folder")


def _ranks(ranks: list[int]) -> str:
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(map(str, ranks))


def peer_lost(exc: RuntimeError, d) -> bool:
    """Whether `exc`, raised while training under DDP, is a collective that failed because another rank is gone
    (gloo's "Connection reset by peer" is a plain RuntimeError, NCCL's a DistBackendError)."""
    if d.world <= 1:
        return False
    text = str(exc)
    return isinstance(exc, torch_dist.DistError) or any(
        s in text for s in ("gloo", "Connection reset by peer", "Connection closed by peer", "NCCL"))


def lost_how(exc: BaseException) -> str:
    """What the process group said of a peer gone (the first of the words that name it), or the error's type."""
    return next((s for s in ("Connection reset by peer", "Connection closed by peer", "timed out", "Timeout")
                 if s in str(exc)), type(exc).__name__)


def leave_group(d) -> None:
    """Under DDP, wait for every rank to end its run, then leave the process group.

    The ranks wait for each other in the group's store (:func:`wait_for_every_rank`), not with gloo's barrier.
    Gloo's barrier is an all-reduce of a one-element tensor, whose work is freed on gloo's worker thread just after
    it completes, and freeing a tensor Python has seen takes the GIL. With the barrier the run's last collective,
    this rank was often already shutting Python down by then, and a thread that asks for the GIL while the
    interpreter shuts down is ended inside a C++ destructor: `terminate called without an active exception`,
    SIGABRT, and a torchrun run that failed after it had finished (8 runs in 60 on the busy 2-core machine,
    2026-12-07; none in 60 since). The last collective is now the final epoch's metrics, and rank 1 waits here
    while rank 0 writes the run's files. Gloo's threads outlive `destroy_process_group`, because DDP's wrapper
    keeps the group alive in C++."""
    if d.world > 1:
        wait_for_every_rank(d, "done")
        torch_dist.destroy_process_group()
