"""Numbers stay numbers: absurd or non-finite settings are refused up front (no flag silently replaced
by a default), a loss that turns non-finite stops training with the last finite epoch kept, no JSON
holds NaN, and a temperature too small for float64 acts as its T -> 0 limit."""

from __future__ import annotations

import json
import math

import pytest

from dlexam import checkpoint

from .helpers import assert_refused, refused_here, rewrite_checkpoint, run_cli


@pytest.mark.parametrize("flag, value, needle", [
    ("--lr", "nan", "--lr must be"), ("--lr", "inf", "--lr must be"), ("--lr", "1e10", "--lr must be"),
    ("--lr", "0", "--lr must be"), ("--epochs", "0", "--epochs must be"), ("--batch-size", "0", "--batch-size must be"),
    ("--val-fraction", "1", "--val-fraction must be"), ("--val-fraction", "-0.1", "--val-fraction must be"),
    ("--threads", "0", "--threads must be"),
    # 600 images, all 600 held out: training on none raised IndexError from the first epoch's end
    ("--val-fraction", "0.9999", "none is left to train on"),
])
def test_svhn_train_refuses_absurd_settings_before_any_work(tmp_path, capsys, synth_dir, flag, value, needle):
    argv = ["svhn", "train", "--data", str(synth_dir), "--out", str(tmp_path / "r"), flag, value]
    if (flag, value) == ("--lr", "nan"):  # one case as a whole process: exit status 2 and one line, no traceback
        assert_refused(run_cli(*argv), needle)
    else:  # the others in this process: the same main(), without a second of torch's import each
        refused_here(argv, capsys, needle)
    assert not (tmp_path / "r" / "last.pt").exists()


def test_a_loss_that_turns_nan_stops_training_and_keeps_the_last_finite_epoch(tmp_path, synth_dir):
    from dlexam.cli import main

    run = tmp_path / "r"
    # the finite epoch in this process (as conftest's quick_run trains); the run that turns non-finite as a whole one
    assert main(["svhn", "train", "--data", str(synth_dir), "--out", str(run), "--epochs", "1", "--quiet",
                 "--threads", "1"]) == 0
    # weights so large (still finite) that the logits overflow: the first loss of the resumed run is not finite
    payload = checkpoint.load(run / "last.pt")
    payload["state_dict"]["fc.weight"] = payload["state_dict"]["fc.weight"].sign() * 3e38
    payload["extra"]["settings"]["train"]["epochs"] = 3
    rewrite_checkpoint(run / "last.pt", payload)
    before = (run / "last.pt").read_bytes()
    p = run_cli("svhn", "train", "--out", str(run), "--resume", "--quiet", "--threads", "1")
    line = assert_refused(p, "loss became", "epoch 2, batch 1", "keeps epoch 1")
    assert "nan" in line or "inf" in line
    assert (run / "last.pt").read_bytes() == before  # nothing non-finite was saved over it


def test_no_json_holds_nan(tmp_path, synth_dir, capsys):
    from dlexam.cli import main

    run = tmp_path / "r"
    # in this process (the JSON is what main() prints; `svhn train` runs as a whole process in the test above)
    code = main(["svhn", "train", "--data", str(synth_dir), "--out", str(run), "--quick", "--quiet",
                 "--val-fraction", "0", "--threads", "1", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err[-1000:]
    text = out + (run / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_a_temperature_below_float64s_range_is_the_argmax_limit(capsys):
    from dlexam.cli import main

    p = run_cli("geoff", "--temperature", "1e-310", "--gradients", "--json")
    assert p.returncode == 0, p.stderr.decode()
    out = json.loads(p.stdout)
    assert round(out["loss"]["exam"]["value"], 4) == 4.2114
    grads = [x for g in out["gradients"].values() for row in g for x in (row if isinstance(row, list) else [row])]
    assert all(x is not None and math.isfinite(x) for x in grads)
    capsys.readouterr()
    assert main(["geoff", "--temperature", "1e-300", "--json"]) == 0  # tiny but normal: still the argmax answer
    assert round(json.loads(capsys.readouterr().out)["loss"]["exam"]["value"], 4) == 4.2114  # (here: the same main())
