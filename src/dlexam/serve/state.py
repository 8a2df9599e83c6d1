"""What the server holds for its whole life: its settings and limits, the models named on the command line, and
its caches.

Checkpoints come only from the command line (``--sort-checkpoint``, ``--svhn-checkpoint``; without
them, the models shipped with dlexam) and are loaded at start, so a bad one stops the command before
it serves; no request names a file. The caches hold deterministic functions of a request (an answer
depends only on the query), each bounded: the compiled sorters by vocabulary, the answer key once,
and the Geoff answers in :mod:`dlexam.serve.api_geoff`'s LRU cache. :class:`ServeLimits` are the deadlines
and caps that keep a hostile client from holding the server (docs/serve.md, "Limits and deadlines").
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from dlexam import limits
from dlexam.errors import UserError

MAX_WEB_SYMBOLS = 100  # the largest vocabulary N the page compiles a solver for
COMPILED_CACHE = 8  # compiled solvers kept (one per vocabulary)


@dataclass(frozen=True)
class ServeLimits:
    """The deadlines and caps of every connection and job (`dlexam serve --header-timeout ...`, docs/serve.md)."""

    header_timeout_s: float = 10.0  # a request's headers must have arrived this long after its first byte (408)
    idle_timeout_s: float = 5.0  # a connection without a request in progress is closed after this long
    max_connections: int = 512  # open at once, all clients together
    connections_per_client: int = 32  # open at once from one address (a browser opens at most 6)
    job_timeout_s: float = 10.0  # a worker's time for one answer (plus an image's own budget), then it is replaced

    BOUNDS = {"header_timeout_s": limits.Span(0.1, 3600.0), "idle_timeout_s": limits.Span(0.1, 3600.0),
              "max_connections": limits.Span(1, 16384, whole=True),
              "connections_per_client": limits.Span(1, 16384, whole=True), "job_timeout_s": limits.Span(0.1, 3600.0)}
    FLAGS = {"header_timeout_s": "--header-timeout", "idle_timeout_s": "--idle-timeout",
             "max_connections": "--max-connections", "connections_per_client": "--connections-per-client",
             "job_timeout_s": "--job-timeout"}

    def __post_init__(self) -> None:
        for name, span in self.BOUNDS.items():
            span.check(self.FLAGS[name], getattr(self, name))
        if self.connections_per_client > self.max_connections:
            raise UserError(f"--connections-per-client ({self.connections_per_client}) must not exceed "
                            f"--max-connections ({self.max_connections})")


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    sort_checkpoint: Path | None = None
    svhn_checkpoint: Path | None = None
    limits: ServeLimits = field(default_factory=ServeLimits)


@dataclass
class ServerState:
    """The loaded models and the caches; built once by :func:`load_state`."""

    settings: ServeSettings
    trained_sorter: object  # dlexam.sorting.sorter.Sorter: --sort-checkpoint, else the shipped one
    cnn: object  # dlexam.svhn.model.ExamCNN in eval mode
    cnn_source: str  # which CNN, in words
    pool: object | None = None  # dlexam.serve.workers.WorkerPool with --workers N > 0
    _compiled: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    answer_key: bytes | None = None  # /api/answers's bytes, once computed (serve.api_models.answer_key_bytes)
    answer_key_job: object | None = None  # the asyncio task computing them, while it runs

    def compiled_sorter(self, spec: str):
        """The compiled exact solver for vocabulary `spec` (A-D, A-Z, any letter range, or N <= 100)."""
        from dlexam.sorting.sorter import load_sorter
        from dlexam.sorting.vocab import Vocabulary

        n = int(spec.strip()) if re.fullmatch(r"[0-9]{1,16}", spec.strip()) else None  # N symbols, said before
        if n == 0:  # from_spec's own bounds (1 .. 2,000: the command line's) are not the page's
            raise UserError(f"vocabulary {spec!r} has no symbols: the page compiles a solver for 1 to "
                            f"{MAX_WEB_SYMBOLS} symbols (or a letter range such as A-D)")
        vocab = Vocabulary.from_spec(spec) if n is None or n <= MAX_WEB_SYMBOLS else None
        if vocab is None or vocab.n_symbols > MAX_WEB_SYMBOLS:
            count = n if vocab is None else vocab.n_symbols
            raise UserError(f"vocabulary {spec!r} has {count:,} symbols; the page compiles at most "
                            f"{MAX_WEB_SYMBOLS}")
        with self._lock:
            if vocab.spec in self._compiled:
                self._compiled.move_to_end(vocab.spec)
                return self._compiled[vocab.spec]
        sorter = load_sorter(vocab.spec)
        with self._lock:
            self._compiled[vocab.spec] = sorter
            while len(self._compiled) > COMPILED_CACHE:
                self._compiled.popitem(last=False)
        return sorter


def load_cnn(path: Path | None):
    """(ExamCNN, description): the checkpoint named by --svhn-checkpoint, else the shipped model."""
    from dlexam.svhn.inference import describe, load_model

    model, payload = load_model(path)
    return model, describe(path, payload)


def load_trained_sorter(path: Path | None):
    """The trained sorter shown beside the compiled solver: the one named by --sort-checkpoint, else the trained
    A-D sorter shipped with dlexam."""
    if path is None:
        from dlexam.sorting.shipped import load_shipped

        return load_shipped()
    from dlexam.sorting.sorter import load_sorter

    return load_sorter(None, path)


def load_state(settings: ServeSettings) -> ServerState:
    """Load what the command line names (UserError, before serving, when a checkpoint is bad): each model by its
    own loader above, in the server and in every worker process alike."""
    import torch

    torch.set_num_threads(1)  # many small requests on a shared CPU: one intra-op thread each
    trained = load_trained_sorter(settings.sort_checkpoint)
    cnn, source = load_cnn(settings.svhn_checkpoint)
    return ServerState(settings=settings, trained_sorter=trained, cnn=cnn, cnn_source=source)
