"""DistributedDataParallel: 2 processes (torchrun, gloo on 127.0.0.1) end with the same weights as 1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from dlexam import checkpoint
from dlexam.svhn.model import ExamCNN


def test_two_processes_match_one(synth_dir, tmp_path):
    args = [
        "svhn",
        "train",
        "--data",
        str(synth_dir),
        "--quick",
        "--quiet",
        "--epochs",
        "2",
        "--batch-size",
        "128",
        "--seed",
        "4",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    one = subprocess.run(
        [sys.executable, "-m", "dlexam", *args, "--out", str(tmp_path / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",  # torchrun binds a free port itself: a port picked here could be taken before it binds
        "-m",
        "dlexam",
    ]
    two = subprocess.run(  # --threads is each rank's (until 2026-12-07 a DDP run ignored it: the CPUs shared out)
        [*torchrun, *args, "--out", str(tmp_path / "two"), "--json", "--threads", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    _no_abort(two.stderr)
    assert two.returncode == 0, two.stderr[:3000] + "\n...\n" + two.stderr[-1500:]  # the ranks' own errors come first
    assert '"world_size": 2' in two.stdout  # really distributed; only rank 0 printed
    assert two.stdout.count('"world_size"') == 1
    # Conv-1's kernel (8x1x5x5) is handed to DDP in the layout its gradient comes back in: no stride warning
    assert "Grad strides do not match bucket view strides" not in two.stderr
    a = checkpoint.load(tmp_path / "one" / "last.pt")
    b = checkpoint.load(tmp_path / "two" / "last.pt")
    assert a["extra"]["epoch"] == b["extra"]["epoch"] == 2
    assert b["provenance"]["threads"] == 2  # rank 0 trained at the count given, not at 2 CPUs / 2 ranks
    torch.manual_seed(4)
    init = ExamCNN().state_dict()  # the weights both runs started from
    for k, v in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][k], v, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(v, init[k], atol=1e-4), f"{k} did not train"
    ha, hb = a["extra"]["history"], b["extra"]["history"]
    for ra, rb in zip(ha, hb, strict=True):
        assert abs(ra["train_loss"] - rb["train_loss"]) < 1e-4
        assert ra["val_accuracy"] == rb["val_accuracy"]


def _no_abort(stderr: str) -> None:
    """No rank ended in C++'s terminate (a gloo worker thread freeing a tensor while Python shut down: 'terminate
    called without an active exception', SIGABRT after the run's own last word, in about 1 run in 8 on a busy
    machine until 2026-12-07; dlexam.cli.run now ends a rank that joined a group without Python's shutdown)."""
    assert "terminate called" not in stderr and "SIGABRT" not in stderr, stderr[-3000:]


_PER_RANK = """import os, sys, time
from dlexam.cli import run
sys.argv[1:] = [a.replace("{RANK}", os.environ["RANK"]) for a in sys.argv[1:]]
class SlowToSay:  # rank 0 takes 2 s to say why the run stops: torchrun must not end it first
    def __init__(self, stream):
        self.stream = stream
    def write(self, text):
        if text.startswith("dlexam: error: "):
            time.sleep(2)
        return self.stream.write(text)
    def flush(self):
        self.stream.flush()
    def __getattr__(self, name):
        return getattr(self.stream, name)
if os.environ["RANK"] == "0":
    sys.stderr = SlowToSay(sys.stderr)
run()
"""


def test_ranks_that_read_other_digits_are_refused_on_every_rank(tmp_path):
    """Each rank reads --data itself (on several machines, each its own copy). Ranks whose copies held other digits
    trained together without a word, and the run recorded rank 0's data digest; copies of other sizes ended in
    gloo's abort ("Is there a distributed collective mismatch?") and tracebacks. Now every rank refuses (exit 2) and
    no run folder is written; the ranks agree on it, so rank 0 says it once (until 2026-12-07 each rank printed the
    same line). Rank 0 is made slow to say it (_PER_RANK): until 2026-12-08 rank 1, silent, exited at once, and
    torchrun, looking at its ranks every 0.1 s, ended rank 0 before its line was out (one fresh clone's run); rank 1
    now waits until rank 0 has said it."""
    from dlexam.svhn.synthetic.digits import write_synthetic

    for rank, seed in ((0, 1), (1, 2)):  # the same number of images, other digits
        write_synthetic(tmp_path / f"data{rank}", n_train=200, n_test=20, seed=seed)
    (tmp_path / "per_rank.py").write_text(_PER_RANK)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(tmp_path / "per_rank.py"), "svhn", "train", "--data", str(tmp_path / "data{RANK}"),
         "--out", str(tmp_path / "run"), "--quick", "--epochs", "1", "--quiet"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    _no_abort(two.stderr)
    assert two.returncode != 0, two.stdout
    said = [line for line in two.stderr.splitlines() if "dlexam: error: " in line]
    assert len(said) == 1 and said[0].startswith("dlexam: error: distributed training: rank 1 read other digits than "
                                                 f"rank 0 (another SHA-256 of the images and labels; rank 0 read "
                                                 f"{tmp_path / 'data0'})"), two.stderr
    assert "EnforceNotMet" not in two.stderr  # gloo's abort
    assert not any(line.startswith("[rank") for line in two.stderr.splitlines())  # a rank's traceback
    assert not (tmp_path / "run").exists()


_RANK_1_DIES = """import os, sys, time
from pathlib import Path
import torch.nn as nn
from dlexam.cli import run
flag = Path(__file__).with_name("rank_0_waits")
if os.environ["RANK"] == "0":  # says when it enters DDP's constructor, whose first collective waits for rank 1
    ddp_init = nn.parallel.DistributedDataParallel.__init__
    def init(self, *args, **kwargs):
        flag.touch()
        ddp_init(self, *args, **kwargs)
    nn.parallel.DistributedDataParallel.__init__ = init
else:  # rank 1 dies once rank 0 waits for it, as a process killed mid-run
    import dlexam.svhn.training.runs as runs
    def die(*args, **kwargs):
        while not flag.exists():
            time.sleep(0.05)
        time.sleep(0.5)
        os._exit(9)
    runs.fit = die
run()
"""


def test_a_rank_that_dies_leaves_rank_0_one_line_not_a_traceback(synth_dir, tmp_path):
    """Rank 0's next collective failed with gloo's RuntimeError ("Connection reset by peer"), a traceback of 30
    lines from rank 0. Now rank 0 says in one line that another process is gone and how to go on."""
    (tmp_path / "rank_1_dies.py").write_text(_RANK_1_DIES)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         # rank 0 meets the gone rank in the collective it waits in, and says so, before torchrun's next look (its
         # SIGTERM): rank 1 dying at once, as it did, left rank 0 still loading, and torchrun's SIGTERM came first
         # one run in several under load (2026-12-08)
         "--monitor-interval", "5",
         str(tmp_path / "rank_1_dies.py"), "svhn", "train", "--data", str(synth_dir), "--out", str(tmp_path / "run"),
         "--quick", "--epochs", "1", "--quiet"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    _no_abort(two.stderr)
    assert two.returncode != 0
    assert not any(line.startswith("[rank") for line in two.stderr.splitlines()), two.stderr[:3000]
    said = [line for line in two.stderr.splitlines() if line.startswith("dlexam: error: ")]
    assert len(said) == 1 and "another process of the run is gone" in said[0], two.stderr


def test_a_rank_without_the_run_to_resume_is_one_line_from_every_rank_at_once(quick_run, tmp_path):
    """Resuming with a folder of its own on each machine (--out per machine: rank 0 alone writes, so rank 1's holds
    no run): rank 1 refused without a word, before the ranks had joined, and rank 0 waited for it in the rendezvous
    until torchrun killed it 30 s later, no line said why. Now the ranks join first and agree: every rank stops at
    once, rank 0 says in one line which rank finds no run where, and what DDP needs; rank 0's run is left as it is,
    and its line is out even though it is slow to say it (_PER_RANK)."""
    import shutil

    shutil.copytree(quick_run, tmp_path / "run0")
    before = {p.name: p.read_bytes() for p in (tmp_path / "run0").iterdir() if p.name != ".dlexam.lock"}
    (tmp_path / "per_rank.py").write_text(_PER_RANK)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(tmp_path / "per_rank.py"), "svhn", "train", "--out", str(tmp_path / "run{RANK}"), "--resume",
         "--epochs", "3", "--quiet"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    _no_abort(two.stderr)
    assert two.returncode != 0, two.stdout
    said = [line for line in two.stderr.splitlines() if line.startswith("dlexam: error: ")]
    assert len(said) == 1, two.stderr
    assert f"rank 1: resume: no run to resume at {tmp_path / 'run1'}" in said[0], said
    assert "every rank the same folder" in said[0], said
    assert not any(line.startswith("[rank") for line in two.stderr.splitlines())  # a rank's traceback
    assert not (tmp_path / "run1").exists()
    assert {p.name: p.read_bytes() for p in (tmp_path / "run0").iterdir() if p.name != ".dlexam.lock"} == before


def _two_ranks_played_here(tmp_path, monkeypatch, rank: dict, prepare):
    """Two ranks played in this process, one after the other (`rank["now"]` says which), through a gather that keeps
    what each sent; `prepare` stands for the run's preparation. Returns the run to hand to `train_run`, and what each
    rank sent."""
    import torch.distributed

    import dlexam.svhn.training.distributed as distributed
    import dlexam.svhn.training.runs as svhn_runs
    from dlexam.svhn.training.distributed import Dist
    from dlexam.svhn.training.settings import SVHNRun

    sent: dict[int, object] = {}

    def gather(every, mine):
        sent[rank["now"]] = mine
        every[:] = [sent.get(r, (None, False, False)) for r in range(2)]

    monkeypatch.setattr(torch.distributed, "all_gather_object", gather)
    monkeypatch.setattr(distributed, "wait_for_every_rank", lambda d, name: None)  # agree's and leave_group's
    monkeypatch.setattr(svhn_runs, "setup_distributed", lambda: Dist(rank=rank["now"], world=2))
    monkeypatch.setattr(svhn_runs, "_open_out", lambda run: None)
    monkeypatch.setattr(svhn_runs, "_prepare", prepare)
    return SVHNRun(data=tmp_path / "data", out=tmp_path / "run"), sent


def test_an_unexpected_error_on_one_rank_reaches_the_others_as_one_line(tmp_path, monkeypatch):
    """A defect on rank 1 while the run was made ready (before the ranks agree) was rank 1's traceback, and rank 0,
    waiting for it in the gather, failed inside gloo ("Connection closed by peer") with a traceback of its own. Now
    rank 1 hands it to the gather, then raises it as it is; rank 0 refuses in one line naming rank 1 and the error.
    Two ranks played in this process, one after the other, through a gather that keeps what each sent (no torchrun:
    the same gather end to end is the other tests')."""
    import pytest

    import dlexam.svhn.training.runs as svhn_runs
    from dlexam.errors import EveryRank

    rank = {"now": 1}
    defect = RuntimeError("a defect\n  on two lines")

    def prepare(run, folder, d):
        if d.rank == 1:
            raise defect
        return svhn_runs._Prepared(None, {}, None, 0, [], None)

    run, sent = _two_ranks_played_here(tmp_path, monkeypatch, rank, prepare)
    with pytest.raises(RuntimeError) as raised:
        svhn_runs.train_run(run)
    assert raised.value is defect and 1 in sent  # its own error, with its traceback, after the gather
    rank["now"] = 0
    with pytest.raises(EveryRank) as agreed:
        svhn_runs.train_run(run)
    assert str(agreed.value) == ("distributed training, rank 1: an unexpected error while making the run ready "
                                 "(RuntimeError: a defect on two lines); that rank's own traceback says where")


def test_a_defect_on_rank_0_is_said_in_one_line_by_rank_1(tmp_path, monkeypatch):
    """A defect on rank 0 while the run was made ready: rank 0 raised it (its traceback) and rank 1 refused with
    EveryRank, which only rank 0 says: no line said what had happened. Now the line is rank 1's to say (the lowest
    rank that is not the one whose traceback shows), and where several ranks have a defect only the first shows its
    traceback: never a wall of tracebacks from several ranks. The same gather as the test above, played in this
    process."""
    import pytest

    import dlexam.svhn.training.runs as svhn_runs
    from dlexam import cli
    from dlexam.errors import EveryRank

    rank = {"now": 0}
    defects = {0: RuntimeError("rank 0's defect"), 1: KeyError("rank 1's defect")}

    def prepare(run, folder, d):
        raise defects[d.rank]

    run, _ = _two_ranks_played_here(tmp_path, monkeypatch, rank, prepare)
    with pytest.raises(RuntimeError) as raised:
        svhn_runs.train_run(run)
    assert raised.value is defects[0]
    rank["now"] = 1
    with pytest.raises(EveryRank) as agreed:  # its own defect is not shown again: rank 0's traceback is the one
        svhn_runs.train_run(run)
    assert str(agreed.value) == ("distributed training, rank 0: an unexpected error while making the run ready "
                                 "(RuntimeError: rank 0's defect); that rank's own traceback says where")
    args = cli.build_parser().parse_args(["svhn", "train", "--out", str(tmp_path / "run")])
    for r, says in ((0, False), (1, True)):  # which rank's command line prints the line
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", str(r))
        monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
        monkeypatch.setenv("MASTER_PORT", "29500")
        assert cli._another_rank_says_it(args, agreed.value) is not says, r


_RANK_0_SLOW = """import os, sys, time
from dlexam.cli import run
import dlexam.svhn.training.runs as runs
marker = sys.argv[1]
if os.environ["RANK"] == "0":
    def slowly(*args, **kwargs):  # rank 0 makes the run ready slowly (a large --data, say), while torchrun lives
        parent = os.getppid()
        while os.getppid() == parent:
            time.sleep(0.1)
        os._exit(1)
    runs._prepare = slowly
else:  # rank 1 is ready at once, and says when it waits for rank 0
    agree = runs.agree
    def agreeing(*args, **kwargs):
        with open(marker + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(marker + ".tmp", marker)
        return agree(*args, **kwargs)
    runs.agree = agreeing
del sys.argv[1]
run()
"""


def test_ctrl_c_on_a_rank_waiting_for_the_others_stops_every_rank_with_one_line(synth_dir, tmp_path):
    """SIGINT to a rank that waited for a slower rank to make the run ready was held until the slower one got there
    (the wait was a gather inside gloo, where no Python signal handler runs): minutes, for a large --data. Now the
    wait is Python's: the rank stops at once, `dlexam: interrupted`; torchrun then ends the others, which say nothing
    more (the first rank of the run to say why it stops is the only one that does); rank 0's run folder, made for
    the run, goes again."""
    import signal
    import time

    def as_a_shell():  # SIGINT at its default action, whatever the test runner's process holds
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})

    (tmp_path / "rank_0_slow.py").write_text(_RANK_0_SLOW)
    marker = tmp_path / "rank1.pid"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    two = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
         str(tmp_path / "rank_0_slow.py"), str(marker), "svhn", "train", "--data", str(synth_dir),
         "--out", str(tmp_path / "run"), "--quick", "--epochs", "1", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=as_a_shell)
    try:
        for _ in range(1200):  # a hang guard, not a timing: the ranks start in a few seconds
            if marker.exists() or two.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), two.communicate()
        time.sleep(0.3)  # rank 1 is in the wait now
        os.kill(int(marker.read_text()), signal.SIGINT)
        out, err = two.communicate(timeout=60)  # a hang guard: before, rank 1 waited for rank 0 as long as it took
    finally:
        if two.poll() is None:  # torchrun killed: rank 0 then ends itself (a process of its own session), and rank 1
            os.killpg(two.pid, signal.SIGKILL)  # with it (its gather's connection closed)
            two.communicate(timeout=60)
    said = [line for line in err.splitlines() if line.startswith("dlexam: ")]
    assert said == ["dlexam: interrupted"], err
    assert not any(line.startswith("[rank") for line in err.splitlines()), err[:3000]  # a rank's traceback
    assert not (tmp_path / "run").exists()


def test_while_the_ranks_join_a_stop_signal_ends_the_process_at_once(monkeypatch):
    """A rank waiting in torch's rendezvous for a rank that had crashed runs no Python signal handler: the command
    line's SIGTERM handler held torchrun's SIGTERM until its SIGKILL, 30 s later. While the ranks join, SIGINT and
    SIGTERM now have their default actions (nothing is open yet to close); the handlers are back once joined, and a
    signal the process was started ignoring stays ignored. (The join itself is the other tests'.)"""
    import signal

    import torch.distributed

    from dlexam.svhn.training import distributed

    seen = []
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend: seen.append(
        (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))))
    for name, value in (("WORLD_SIZE", "2"), ("RANK", "1"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")):
        monkeypatch.setenv(name, value)

    def handler(signum, frame):
        raise AssertionError("not called")

    threads = torch.get_num_threads()
    before = signal.signal(signal.SIGINT, handler), signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        d = distributed.setup_distributed()
        after = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
        torch.set_num_threads(threads)
    assert seen == [(signal.SIG_DFL, signal.SIG_IGN)]
    assert after == (handler, signal.SIG_IGN) and (d.rank, d.world) == (1, 2)


class _Exited(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


def _exits(code):
    raise _Exited(code)


_ENDS_IN_A_GROUP = """import atexit, sys
import dlexam.cli as cli
def says_and_refuses():
    sys.stdout.write("the run's last word")  # no newline: in the pipe's buffer when the process ends
    sys.stderr.write("dlexam: error: refused")
    return 2
cli.main = says_and_refuses
cli._joined_a_group = lambda: sys.argv[1] == "joined"
atexit.register(lambda: sys.stdout.write(" and Python's shutdown"))
cli.run()
"""


@pytest.mark.parametrize("joined", ["joined", "alone"])
def test_a_rank_that_joined_a_group_ends_without_pythons_shutdown(joined):
    """dlexam.cli.run, the process's entry: a process that joined a torchrun group ends with os._exit and main's
    status once its output is flushed (gloo's threads, alive to the end, abort a rank whose Python shuts down while
    one of them frees a tensor); any other process ends as Python does."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as into any pipe
    ended = subprocess.run([sys.executable, "-c", _ENDS_IN_A_GROUP, joined], capture_output=True, text=True,
                           env=env, timeout=60)
    assert ended.returncode == 2, ended.stderr
    assert ended.stderr == "dlexam: error: refused"
    shutdown = "" if joined == "joined" else " and Python's shutdown"
    assert ended.stdout == "the run's last word" + shutdown


def test_a_defect_in_a_rank_that_joined_a_group_is_its_traceback_and_status_1(monkeypatch, capfd):
    import dlexam.cli as cli

    def fails():
        raise RuntimeError("a defect of the run")

    monkeypatch.setattr(cli, "main", fails)
    monkeypatch.setattr(cli.os, "_exit", _exits)
    monkeypatch.setattr(cli, "_joined_a_group", lambda: True)
    with pytest.raises(_Exited) as ended:
        cli.run()
    assert ended.value.code == 1
    err = capfd.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "RuntimeError: a defect of the run" in err
    monkeypatch.setattr(cli, "_joined_a_group", lambda: False)
    with pytest.raises(RuntimeError, match="a defect of the run"):  # elsewhere Python's own ending says it
        cli.run()


def test_joining_a_group_is_remembered_after_leaving_it(monkeypatch):
    """setup_distributed records the join (what dlexam.cli.run reads), and leaving the group does not forget it:
    gloo's threads stay either way."""
    import dlexam.svhn.training.distributed as distributed

    monkeypatch.setattr(distributed, "_JOINED", [])
    monkeypatch.setattr(distributed, "torchrun_world", lambda: (0, 2))
    monkeypatch.setattr(distributed.torch_dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.torch_dist, "init_process_group", lambda backend: None)
    assert not distributed.joined_a_group()
    d = distributed.setup_distributed()
    assert d.world == 2 and distributed.joined_a_group()


@pytest.fixture
def torchrun_store(monkeypatch):
    """A store as torchrun's agent keeps one (a TCPStore on 127.0.0.1), and the environment torchrun gives its ranks
    to reach it; yields the store."""
    import datetime

    import torch.distributed as torch_dist

    store = torch_dist.TCPStore("127.0.0.1", 0, is_master=True, timeout=datetime.timedelta(seconds=10))
    for name, value in (("TORCHELASTIC_USE_AGENT_STORE", "True"), ("MASTER_ADDR", "127.0.0.1"),
                        ("MASTER_PORT", str(store.port)), ("TORCHELASTIC_RUN_ID", "a-run"),
                        ("TORCHELASTIC_RESTART_COUNT", "0"), ("WORLD_SIZE", "2"), ("RANK", "1")):
        monkeypatch.setenv(name, value)
    yield store


def test_a_silent_rank_waits_until_the_speaker_has_said_it(torchrun_store, capfd):
    """The rank that leaves the line to another (dlexam.cli._say_once, silent) returns only once that rank has marked
    it said in torchrun's store: torchrun ends every rank as soon as one has exited, so a silent rank that exited at
    once could end the speaker before its line was out. The silent rank prints nothing."""
    import threading
    import time

    from dlexam import cli
    from dlexam.svhn.training.distributed import have_said_it

    started = time.monotonic()
    speaker = threading.Timer(1.0, have_said_it)  # the speaker, a second later
    speaker.start()
    cli._say_once(1, True, "dlexam: error: said by rank 0")
    waited = time.monotonic() - started
    speaker.join()
    assert waited >= 1.0
    assert capfd.readouterr().err == ""


def test_a_silent_rank_whose_speaker_never_says_it_says_it_itself(torchrun_store, capfd, monkeypatch):
    """Where no rank marks the line said in time (the speaker is stuck, or never came to the refusal), the silent
    rank says it itself, and marks it: better a second line than none. A mark of another torchrun attempt (a
    restart) does not count."""
    import dlexam.svhn.training.distributed as distributed
    from dlexam import cli

    torchrun_store.set(distributed._spoken_key(), "1")
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")  # a restarted attempt
    monkeypatch.setattr(distributed, "wait_for_the_speaker",
                        lambda wait=distributed.wait_for_the_speaker: wait(timeout_s=0.5))
    cli._say_once(1, True, "dlexam: error: nobody said it")
    assert capfd.readouterr().err == "dlexam: error: nobody said it\n"
    assert torchrun_store.check([distributed._spoken_key()])


def test_without_torchrun_s_store_a_silent_rank_stays_silent_at_once(monkeypatch, capfd):
    """Ranks started by hand (WORLD_SIZE, RANK, MASTER_* but no torchrun agent): nothing ends the speaker early and
    there is no store to wait in, so the silent rank says nothing, as before."""
    import time

    from dlexam import cli

    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    started = time.monotonic()
    cli._say_once(1, True, "dlexam: error: said by rank 0")
    assert time.monotonic() - started < 5
    assert capfd.readouterr().err == ""
