"""Training runs (issue 14 follow-up): the config checked up front, the finished flag, exact resume,
refusals of a damaged or mismatched resume state, and the stop at a non-finite loss."""

from __future__ import annotations

import math

import pytest
import torch

from dlexam import checkpoint
from dlexam.errors import NonFiniteLoss, UserError
from dlexam.progress import Progress
from dlexam.sorting import train as train_module
from dlexam.sorting.train import TrainConfig, train
from dlexam.sorting.trained import load_trained, training_record

TC = dict(vocab="A-C", max_len=4, steps=60, batch_size=32, warmup=5, checkpoint_every=20)


class Stop(KeyboardInterrupt):
    pass


def stop_after(n: int):
    """A callback that interrupts training after step index `n` (as Ctrl-C would)."""

    def callback(step, model, loss_ema):
        if step == n:
            raise Stop

    return callback


def interrupted(run, at: int = 45, **changes):
    with pytest.raises(Stop):
        train(TrainConfig(**{**TC, **changes}), run, callback=stop_after(at))


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_gives_the_weights_of_an_uninterrupted_run_bit_for_bit(tmp_path):
    whole = train(TrainConfig(**TC), tmp_path / "whole")
    run = tmp_path / "run"
    interrupted(run, at=45)  # steps 41-46 are lost; the checkpoint holds step 40
    assert training_record(run)["step"] == 40
    resumed = train(TrainConfig(**TC), run, resume=True)
    assert resumed.resumed_from == 40 and resumed.finished and resumed.steps == 60
    assert same_weights(whole.model.state_dict(), resumed.model.state_dict())
    assert resumed.final_loss == whole.final_loss  # the running loss is restored too
    assert same_weights(checkpoint.load(run)["state_dict"], checkpoint.load(tmp_path / "whole")["state_dict"])


def test_the_checkpoint_says_whether_training_finished(tmp_path):
    run = tmp_path / "run"
    interrupted(run, at=25)
    t = load_trained(run)
    assert (t.finished, t.step, t.steps) == (False, 20, 60)
    assert checkpoint.load(run)["extra"]["finished"] is False
    train(TrainConfig(**TC), run, resume=True)
    t = load_trained(run)
    assert (t.finished, t.step, t.steps) == (True, 60, 60)
    assert "resume" not in checkpoint.load(run)["extra"]  # a finished run keeps no optimizer state


def test_checkpoints_from_before_the_flag_count_as_finished_at_their_last_step(tmp_path):
    train(TrainConfig(**TC), tmp_path / "r")
    payload = checkpoint.load(tmp_path / "r")
    for step, finished in ((60, True), (40, False)):
        extra = {k: v for k, v in payload["extra"].items() if k != "finished"} | {"step": step}
        checkpoint.save(tmp_path / "old.pt", kind=payload["kind"], config=payload["config"],
                        state_dict=payload["state_dict"], extra=extra)
        assert load_trained(tmp_path / "old.pt").finished is finished


def test_progress_goes_to_the_callback_and_nothing_is_printed(tmp_path, capsys):
    events: list[Progress] = []
    train(TrainConfig(**{**TC, "steps": 25}), progress=events.append)
    assert capsys.readouterr() == ("", "")
    bars = [e for e in events if e.message is None]
    assert [e.done for e in bars] == [1, 11, 21, 25, 25] and bars[-1].finished and bars[0].total == 25
    assert math.isfinite(bars[-2].info["loss"])


@pytest.mark.parametrize("field, value", [
    ("lr", float("nan")), ("lr", float("inf")), ("lr", 1e10), ("lr", 0.0), ("steps", 0), ("steps", 10**8),
    ("batch_size", 0), ("max_len", 0), ("max_len", 100_000), ("weight_decay", -1.0), ("label_smoothing", 1.0),
    ("seed", -1), ("checkpoint_every", -1), ("n_heads", 0), ("d_model", 0), ("temperature_end", float("nan")),
    ("temperature_start", 0.0), ("positional", "rotary"), ("residual", "yes"), ("vocab", 4),
])
def test_a_bad_setting_is_refused_before_any_work_naming_the_field(tmp_path, field, value):
    with pytest.raises(UserError, match=field):
        train(TrainConfig(**{**TC, field: value}), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_d_model_must_split_into_the_heads(tmp_path):
    with pytest.raises(UserError, match="d_model 9 is not divisible by n_heads 2"):
        train(TrainConfig(**{**TC, "d_model": 9, "n_heads": 2}))


def test_resume_refuses_another_config_and_a_missing_checkpoint(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="holds no last.pt"):
        train(TrainConfig(**TC), tmp_path / "empty", resume=True)
    done = train(TrainConfig(**TC), tmp_path / "done")
    with pytest.raises(UserError, match="trained with lr 0.01, not 0.02"):  # a finished run's settings are checked too
        train(TrainConfig(**{**TC, "lr": 0.02}), tmp_path / "done", resume=True)
    # resuming a finished run trains nothing and writes nothing: it says so and hands back the run's model
    before = (tmp_path / "done" / "last.pt").read_bytes(), (tmp_path / "done" / "last.pt").stat().st_mtime_ns
    said = []

    def no_optimizer(*args, **kwargs):  # torch's optimizers import torch._dynamo (~1.1 s) when they are made
        raise AssertionError("an optimizer was made to resume a finished run")

    monkeypatch.setattr(torch.optim, "AdamW", no_optimizer)  # a finished run makes none (before 2026-12-07 it did)
    again = train(TrainConfig(**TC), tmp_path / "done", resume=True, progress=said.append)
    monkeypatch.undo()
    assert any("all 60 steps are already done" in (p.message or "") for p in said)
    assert (again.steps, again.resumed_from, again.finished) == (60, 60, True)
    assert again.final_loss == done.final_loss
    want = done.model.state_dict()
    assert all(torch.equal(again.model.state_dict()[k], want[k]) for k in want)
    assert ((tmp_path / "done" / "last.pt").read_bytes(), (tmp_path / "done" / "last.pt").stat().st_mtime_ns) == before
    interrupted(tmp_path / "r")
    with pytest.raises(UserError, match="trained with lr 0.01, not 0.02"):
        train(TrainConfig(**{**TC, "lr": 0.02}), tmp_path / "r", resume=True)


def _tamper(run, edit) -> None:
    payload = checkpoint.load(run)
    edit(payload)
    checkpoint.save(run / "last.pt", kind=payload["kind"], config=payload["config"],
                    state_dict=payload["state_dict"], extra=payload["extra"])


@pytest.mark.parametrize("edit, needle", [
    (lambda p: p["extra"]["resume"]["optimizer"]["state"][0].update(exp_avg=torch.zeros(3)), "exp_avg"),
    (lambda p: p["extra"]["resume"]["optimizer"]["state"][0]["exp_avg_sq"].fill_(float("nan")), "exp_avg_sq"),
    (lambda p: p["extra"]["resume"]["optimizer"]["param_groups"][0].update(lr=5.0), "settings"),
    (lambda p: p["extra"]["resume"].update(optimizer="adam"), "optimizer"),
    (lambda p: p["extra"]["resume"].update(data_rng=torch.zeros(3)), "data_rng"),
    (lambda p: p["extra"]["resume"]["scheduler"].update(last_epoch=7), "scheduler"),
    (lambda p: p["extra"].update(step=10**9), "step"),
    (lambda p: p["extra"]["train_config"].update(lr=float("nan")), "lr"),
    (lambda p: p["extra"]["train_config"].update(bogus=1), "train_config"),
    (lambda p: p["config"].update(d_model=7), "model config"),
])
def test_a_damaged_resume_state_is_one_clear_error(tmp_path, edit, needle):
    run = tmp_path / "r"
    interrupted(run)
    _tamper(run, edit)
    before = (run / "last.pt").read_bytes()
    with pytest.raises(UserError, match="resume state is damaged") as err:
        train(TrainConfig(**TC), run, resume=True, force=True)
    assert needle in str(err.value)
    assert (run / "last.pt").read_bytes() == before


def test_resume_does_not_replace_a_checkpoint_dlexam_did_not_write_unless_forced(tmp_path):
    run = tmp_path / "r"
    interrupted(run)
    _tamper(run, lambda p: None)  # the same run, rewritten outside dlexam's record
    with pytest.raises(UserError, match="not written by dlexam"):
        train(TrainConfig(**TC), run, resume=True)
    assert train(TrainConfig(**TC), run, resume=True, force=True).finished


def test_a_non_finite_loss_stops_training_and_keeps_the_last_finite_checkpoint(tmp_path, monkeypatch):
    real, calls = train_module.loss_on_batch, []

    def poisoned(*args, **kw):
        calls.append(1)
        loss = real(*args, **kw)
        return loss * float("nan") if len(calls) == 33 else loss

    monkeypatch.setattr(train_module, "loss_on_batch", poisoned)
    run = tmp_path / "r"
    with pytest.raises(NonFiniteLoss, match=r"loss became nan at step 33 .*; .*last.pt keeps step 20, the last "
                                            r"finite one") as err:
        train(TrainConfig(**TC), run)
    assert "\n" not in str(err.value)
    kept = checkpoint.load(run)
    assert kept["extra"]["step"] == 20 and kept["extra"]["finished"] is False
    assert all(torch.isfinite(v).all() for v in kept["state_dict"].values())
    monkeypatch.setattr(train_module, "loss_on_batch", real)
    assert train(TrainConfig(**TC), run, resume=True).finished  # the kept checkpoint resumes


def test_resume_keeps_the_thread_count_the_run_was_trained_with(tmp_path, capsys):
    """A run goes on at its own thread count, as `svhn train --resume` keeps its run's. Before 2026-12-07 `sort
    train --resume` ran at --threads' default, 1, whatever the run was made with, and said nothing: a run started
    with --threads 2 and resumed without the flag was trained at two counts, and its last.pt's provenance said
    1 thread for the whole run. A run made with more threads than --threads takes here resumes at its own count."""
    from dlexam.cli import main

    run, before = tmp_path / "run", torch.get_num_threads()
    try:
        torch.set_num_threads(12)  # more than --threads takes on a machine of 2 CPUs: a larger machine's run
        interrupted(run)
        assert checkpoint.load(run)["provenance"]["threads"] == 12
        torch.set_num_threads(1)
        with pytest.raises(UserError, match="trained with threads 12, not 1"):
            train(TrainConfig(**TC), run, resume=True)
        capsys.readouterr()
        # in the words of every refused resume setting, as `svhn train --resume` says it (until 2026-12-07: "was
        # trained with 12 torch threads, not 1 (resume is exact only at the run's own thread count)")
        assert main(["sort", "train", "--out", str(run), "--resume", "--threads", "1", "--quiet"]) == 2
        assert capsys.readouterr().err == (f"dlexam: error: resume: {run / 'last.pt'} was trained with --threads 12, "
                                           "not 1 (resume continues a run with its own settings; start a new run to "
                                           "change them)\n")
        assert main(["sort", "train", "--out", str(run), "--resume", "--quiet"]) == 0  # the run's own: 12
        assert training_record(run)["finished"] and checkpoint.load(run)["provenance"]["threads"] == 12
        capsys.readouterr()
        # finished, it is held to its count as `svhn train --resume` holds a finished run (it took any, exit 0)
        assert main(["sort", "train", "--out", str(run), "--resume", "--threads", "1", "--quiet"]) == 2
        assert "was trained with --threads 12, not 1" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)
