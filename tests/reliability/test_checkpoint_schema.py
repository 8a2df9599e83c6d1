"""Every checkpoint is checked against a full schema before use: the weights' names, shapes and dtypes
against the model they go into (a bool, complex, float64 or integer tensor is never cast silently), the
config's types and ranges, the parts' types (a state dict stored as a list, a config that is a string),
and a run's history. Each failure is one line and exit status 2, for sort, SVHN and the shipped model.
Also: a .mat whose labels are strings, and a rejected pickle, whose line comes with no warning."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from dlexam import checkpoint
from dlexam.sorting.train import TrainConfig, train

from .helpers import assert_refused, refused_here, rewrite_checkpoint, run_cli, snapshot


def _save(path, payload, **changes):
    p = {**payload, **changes}
    # checkpoint.save would refuse nothing: it writes what it is given, as a tampering user would
    import io

    buf = io.BytesIO()
    torch.save({"format": "dlexam-checkpoint", "version": 1, "kind": p["kind"], "config": p["config"],
                "state_dict": p["state_dict"], "extra": p.get("extra", {}), "provenance": p.get("provenance")}, buf)
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture(scope="module")
def sorter(tmp_path_factory):
    run = tmp_path_factory.mktemp("sorter") / "run"
    train(TrainConfig(vocab="A-C", max_len=3, steps=10, batch_size=16, warmup=2, checkpoint_every=0), run)
    return checkpoint.load(run / "last.pt")


def _renamed(d: dict, old: str, new: str) -> dict:
    """`d` with the key `old` spelt `new` (in its place)."""
    return {new if k == old else k: v for k, v in d.items()}


def _weights(payload, fn):
    return {k: fn(v) for k, v in payload["state_dict"].items()}


def _wide(payload):
    """The config (and a run's settings) of a network with 10^12 filters in Conv-1, beside the exam network's
    weights: building it first asked for 100 TB (a traceback, `can't allocate memory`); at 10^8 filters the
    41 kB file made the loader allocate 10 GB for 57 s before the weights were compared."""
    def widen(config):
        cnn = config["cnn"]
        return {**config, "cnn": {**cnn, "layers": [{**cnn["layers"][0], "out_channels": 10**12}, *cnn["layers"][1:]]}}

    extra = payload["extra"]
    settings = extra.get("settings")
    if isinstance(settings, dict):
        extra = {**extra, "settings": {**settings, "model": widen(settings["model"])}}
    return dict(config=widen(payload["config"]), extra=extra)


SORT_CASES = {
    "bool weights": (lambda p: dict(state_dict=_weights(p, torch.Tensor.bool)), "bool"),
    "complex weights": (lambda p: dict(state_dict=_weights(p, lambda t: t.to(torch.complex64))), "complex64"),
    "float64 weights": (lambda p: dict(state_dict=_weights(p, torch.Tensor.double)), "float64"),
    "NaN weights": (lambda p: dict(state_dict=_weights(p, lambda t: t * float("nan"))), "NaN"),
    "wrong shape": (lambda p: dict(state_dict=_weights(p, lambda t: t[..., :1])), "shape"),
    "state dict as a list": (lambda p: dict(state_dict=list(p["state_dict"].values())), "state_dict"),
    "a weight that is a number": (lambda p: dict(state_dict={**p["state_dict"], "E": 3.0}), "tensor"),
    "config the string 'x'": (lambda p: dict(config="x"), "config"),
    "a string for a number": (lambda p: dict(config={**p["config"], "temperature": "hot"}), "temperature"),
    "max_len a string": (lambda p: dict(config={**p["config"], "extra": {"vocab": "A-C", "max_len": "x"}}),
                         "max_len"),
    "extra a list": (lambda p: dict(extra=[1, 2]), "extra"),
    # a misspelt key was a TypeError's words ("__init__() got an unexpected keyword argument"), as an SVHN config's
    # was silently dropped: now both say the key and the nearest one (limits.known_keys)
    "a misspelt config key": (lambda p: dict(config=_renamed(p["config"], "d_model", "d_modle")),
                              "unknown key 'd_modle'; did you mean 'd_model'?"),
}


@pytest.mark.parametrize("case", list(SORT_CASES))
@pytest.mark.parametrize("command", ["sort", "sort evaluate"])
def test_tampered_sorter_checkpoints_are_refused_in_one_line(tmp_path, sorter, capsys, case, command):
    edit, needle = SORT_CASES[case]
    ck = _save(tmp_path / "bad.pt", sorter, **edit(sorter))
    argv = ["sort", "--checkpoint", str(ck), "C A"] if command == "sort" else \
        ["sort", "evaluate", "--checkpoint", str(ck), "--lengths", "1-3", "--samples", "3"]
    refused_here(argv, capsys, needle)


SVHN_CASES = {
    "float64 weights": (lambda p: dict(state_dict=_weights(p, torch.Tensor.double)), "float64"),
    "integer weights": (lambda p: dict(state_dict=_weights(p, lambda t: t.to(torch.int32))), "int32"),
    "bool weights": (lambda p: dict(state_dict=_weights(p, torch.Tensor.bool)), "bool"),
    "state dict as a list": (lambda p: dict(state_dict=list(p["state_dict"].values())), "state_dict"),
    "config the string 'x'": (lambda p: dict(config="x"), "config"),
    "a string for a number": (lambda p: dict(config={**p["config"], "linear_in": "144"}), "linear_in"),
    "history of numbers": (lambda p: dict(extra={**p["extra"], "history": [1, 2]}), "history"),
    "history a string": (lambda p: dict(extra={**p["extra"], "history": "epochs"}), "history"),
    "history one row short": (lambda p: dict(extra={**p["extra"], "history": p["extra"]["history"][:1]}), "history"),
    "a loss that is text": (lambda p: dict(extra={**p["extra"], "history": [
        {**row, "train_loss": "low"} for row in p["extra"]["history"]]}), "train_loss"),
    "settings a string": (lambda p: dict(extra={**p["extra"], "settings": "x"}), "damaged"),
    "RNG state a list": (lambda p: dict(extra={**p["extra"], "rng": [1, 2, 3]}), "RNG"),
    "a config far wider than its weights": (_wide, "conv1.weight has shape"),
    # dropped silently until 2026-12-07: a config that said "activaton": "tanh" built the table's ReLU network
    "a misspelt config key": (lambda p: dict(config={**_renamed(p["config"], "activation", "activaton"),
                                                     "activaton": "tanh"}),
                              "unknown key 'activaton'; did you mean 'activation'?"),
    "a key no setting is near": (lambda p: dict(config={**p["config"], "colour": "red"}), "unknown key 'colour'"),
    "a misspelt train setting": (lambda p: dict(extra={**p["extra"], "settings": {
        **p["extra"]["settings"], "train": _renamed(p["extra"]["settings"]["train"], "batch_size", "batchsize")}}),
        "unknown key 'batchsize'; did you mean 'batch_size'?"),
    # the layer table's keys too: 'input_chanels' was dropped (a table of 1 channel built whatever it said), a layer's
    # 'paddding' said a TypeError's words
    "a misspelt key of the layer table": (lambda p: dict(config={**p["config"], "cnn": {
        **_renamed(p["config"]["cnn"], "input_channels", "input_chanels")}}),
        "its layer table: unknown key 'input_chanels'; did you mean 'input_channels'?"),
    "a misspelt key of a layer": (lambda p: dict(config={**p["config"], "cnn": {**p["config"]["cnn"], "layers": [
        _renamed(p["config"]["cnn"]["layers"][0], "padding", "paddding"), *p["config"]["cnn"]["layers"][1:]]}}),
        "its layer table: layer 1 (Conv-1): unknown key 'paddding'; did you mean 'padding'?"),
}


@pytest.mark.parametrize("case", list(SVHN_CASES))
def test_tampered_svhn_checkpoints_are_refused_on_resume(tmp_path, quick_run, capsys, case):
    """--resume reads last.pt: every tampering is one line, and nothing in the run is changed."""
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    payload = checkpoint.load(run / "last.pt")
    edit, needle = SVHN_CASES[case]
    _save(run / "last.pt", payload, **edit(payload))
    from dlexam.files import OutputDir

    OutputDir(run).record("last.pt")  # as if dlexam wrote it: the checks below the record are tested
    before = snapshot(run)
    refused_here(["svhn", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"], capsys, needle)
    assert snapshot(run) == before


@pytest.mark.parametrize("case", ["float64 weights", "integer weights", "state dict as a list",
                                  "config the string 'x'", "a string for a number",
                                  "a config far wider than its weights", "a misspelt config key",
                                  "a key no setting is near", "a misspelt key of the layer table",
                                  "a misspelt key of a layer"])
def test_tampered_svhn_checkpoints_are_refused_by_evaluate_and_predict(tmp_path, quick_run, synth_dir, capsys,
                                                                      case):
    payload = checkpoint.load(quick_run / "best.pt")
    edit, needle = SVHN_CASES[case]
    ck = _save(tmp_path / "bad.pt", payload, **edit(payload))
    refused_here(["svhn", "evaluate", "--checkpoint", str(ck), "--data", str(synth_dir), "--png",
               str(tmp_path / "cm.png")], capsys, needle)
    from PIL import Image

    Image.new("L", (32, 32), 128).save(tmp_path / "x.png")
    refused_here(["svhn", "predict", "--checkpoint", str(ck), str(tmp_path / "x.png")], capsys, needle)
    assert not (tmp_path / "cm.png").exists()


def test_a_tampered_copy_of_the_shipped_model_is_refused(tmp_path, capsys):
    from PIL import Image

    from dlexam.svhn.shipped import shipped_path

    payload = checkpoint.load(shipped_path())
    Image.new("L", (32, 32), 128).save(tmp_path / "x.png")
    for case in ("float64 weights", "bool weights", "config the string 'x'", "a config far wider than its weights"):
        edit, needle = SVHN_CASES[case]
        ck = _save(tmp_path / "shipped.pt", payload, **edit(payload))
        refused_here(["svhn", "predict", "--checkpoint", str(ck), str(tmp_path / "x.png")], capsys, needle)


def test_a_mat_whose_labels_are_strings_is_refused_in_one_line(tmp_path, capsys):
    import scipy.io

    data = tmp_path / "text-labels"
    data.mkdir()
    scipy.io.savemat(data / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 3), np.uint8), "y": np.array(["one", "two",
                                                                                                       "six"])})
    refused_here(["svhn", "evaluate", "--data", str(data)], capsys, "test_32x32.mat", "y must hold numbers")
    scipy.io.savemat(data / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8),
                                               "y": np.array([[{"a": 1}], [{"a": 2}]], dtype=object)})
    refused_here(["svhn", "evaluate", "--data", str(data)], capsys, "test_32x32.mat")


def test_a_rejected_pickle_is_one_line_with_no_warning_before_it(tmp_path):
    """torch.load(weights_only=True) refuses it; its warnings and its paragraph of advice (with terminal
    escapes) never reach the user, only dlexam's line."""
    import os

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo PWNED",))

    torch.save({"format": "dlexam-checkpoint", "version": 1, "payload": Exploit()}, tmp_path / "evil.pt")
    torch.save({"format": "dlexam-checkpoint", "x": np.float64(3.0)}, tmp_path / "numpy.pt")
    for name in ("evil.pt", "numpy.pt"):
        p = run_cli("sort", "--checkpoint", str(tmp_path / name), "D A", timeout=120)
        line = assert_refused(p, name, "refused without running it")
        assert "\x1b" not in line and "PWNED" not in p.stdout.decode() + p.stderr.decode()
        assert p.stderr.decode().count("\n") == 1  # no warning line before it


def test_a_history_in_the_record_that_a_checkpoint_rewrites_is_checked(tmp_path, quick_run, capsys):
    """rewrite_checkpoint (the helper of the other reliability tests) records the file: the refusal above
    comes from the schema, not from the file record."""
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    payload = checkpoint.load(run / "last.pt")
    payload["extra"]["history"] = [{"epoch": 1}, {"epoch": "two"}]
    rewrite_checkpoint(run / "last.pt", payload)
    refused_here(["svhn", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"], capsys, "history")


def test_a_sorter_config_is_checked_before_its_network_is_built(tmp_path, sorter, capsys, monkeypatch):
    """A config edited to d_model 2000 beside the file's weights: the loader built that network (a 420 MB peak, under
    the 50M-weight cap) before comparing the weights. Now the weights are compared with it built on the meta device
    (checkpoint.check_fits) first: no network of the file's config is built in memory before the refusal."""
    from dlexam.sorting import trained
    from dlexam.transformer import DecoderTransformer

    built = []

    class Spy(DecoderTransformer):
        def __init__(self, cfg, *args, **kwargs):
            built.append(str(torch.empty(0).device))  # where a tensor made now would live: meta, or memory
            super().__init__(cfg, *args, **kwargs)

    monkeypatch.setattr(trained, "DecoderTransformer", Spy)
    wide = {**sorter["config"], "d_model": 2000, "d_head": 2000}
    ck = _save(tmp_path / "wide.pt", sorter, config=wide)
    refused_here(["sort", "--checkpoint", str(ck), "C A"], capsys, "weights do not fit", "shape")
    assert built and set(built) == {"meta"}
    ck = _save(tmp_path / "fine.pt", sorter)  # the file as written: built in memory, once checked
    assert trained.load_trained(ck).model is not None and built[-1] == "cpu"


def test_known_keys_names_the_first_unknown_key_the_nearest_one_and_how_many_more():
    from dlexam.errors import UnknownKey
    from dlexam.limits import known_keys

    allowed = ("activation", "pool", "head", "linear_in", "cnn")
    known_keys({"pool": "avg", "head": "linear"}, allowed)  # every key its own: nothing said
    with pytest.raises(UnknownKey) as err:
        known_keys({"pool": "avg", "poool": "max"}, allowed)
    assert str(err.value) == "unknown key 'poool'; did you mean 'pool'?"
    with pytest.raises(UnknownKey) as err:
        known_keys({"zebra": 1, "activaton": "tanh", "linearin": 3}, allowed)
    assert str(err.value) == "unknown key 'activaton'; did you mean 'activation'? (and 2 more: 'linearin', 'zebra')"
    with pytest.raises(ValueError):  # as a config's from_dict raises it: its callers name the file
        known_keys({"colour": "red"}, allowed)
