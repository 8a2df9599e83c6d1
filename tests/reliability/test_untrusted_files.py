"""Untrusted files stay untrusted: a checkpoint's config and resume state are checked before any model
is built, a .mat file's header before any image is read, a cache before it is used; each failure is
one clear line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlexam import checkpoint

from .helpers import assert_refused, refused_here, rewrite_checkpoint, run_cli, snapshot
from .matbomb import mat_bomb


def _sort_checkpoint(path, **config_changes):
    from dlexam.sorting.compiled import compiled_config

    cfg = compiled_config(4).to_dict()
    cfg["extra"] = {"vocab": "A-D", "max_len": 8}
    cfg.update(config_changes)
    checkpoint.save(path, kind="sort-transformer", config=cfg, state_dict={}, extra={})
    return path


@pytest.mark.parametrize("changes, needle, allocates", [
    (dict(n_heads=0), "n_heads", False),
    (dict(d_model=-3), "d_model", False),
    (dict(d_model="six"), "d_model", False),
    (dict(d_model=12000), "d_model", True),  # 576 million weights a matrix
    (dict(n_layers=10**7), "n_layers", True),
    (dict(d_ff=10**9), "d_ff", True),  # 8 GB of feed-forward weights
    (dict(residual="yes"), "residual", False),
    (dict(temperature=float("nan")), "temperature", False),
])
def test_tampered_sort_checkpoints_are_refused_before_allocating(tmp_path, capsys, changes, needle, allocates):
    """A config whose model would not fit is refused from its numbers, in a process under a 2 GB address-space limit
    (built, it would be a MemoryError or worse); a config that is only wrong (a zero, a word, a NaN) is refused by the
    same check in this process (`refused_here`, the same main()), without a second of torch's import each."""
    ck = _sort_checkpoint(tmp_path / "bad.pt", **changes)
    before = snapshot(tmp_path)
    argv = ["sort", "--checkpoint", str(ck), "D A A"]
    if allocates:
        assert_refused(run_cli(*argv, mem_mb=2000, timeout=60), needle)
    else:
        refused_here(argv, capsys, needle)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("damage", ["optimizer", "rng", "epoch", "settings", "lr"])
def test_a_damaged_resume_state_is_one_line(tmp_path, quick_run, capsys, damage):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    payload = checkpoint.load(run / "last.pt")
    extra = payload["extra"]
    if damage == "optimizer":
        extra["optimizer"] = {"state": {"0": "junk"}, "param_groups": [{"params": [99]}]}
    elif damage == "rng":
        extra["rng"] = torch.zeros(3, dtype=torch.uint8)
    elif damage == "epoch":
        extra["epoch"] = -5
    elif damage == "settings":
        del extra["settings"]["train"]
    else:
        extra["settings"]["train"]["lr"] = float("inf")
    rewrite_checkpoint(run / "last.pt", payload)
    before = snapshot(run)
    argv = ["svhn", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"]
    if damage == "optimizer":  # one case as a whole process: exit status 2 and one line, no traceback
        assert_refused(run_cli(*argv), "last.pt")
    else:  # the others in this process: the same main(), without a second of torch's import each
        refused_here(argv, capsys, "last.pt")
    assert snapshot(run) == before


@pytest.mark.parametrize("n", [1, 2, 7, 1001])
def test_the_bomb_builder_writes_files_scipy_reads(tmp_path, n):
    """The oracle for mat_bomb's hand-made deflate stream: scipy reads back exactly what it claims."""
    import scipy.io

    mat_bomb(tmp_path / "t.mat", n)
    d = scipy.io.loadmat(tmp_path / "t.mat")
    assert d["X"].shape == (32, 32, 3, n) and d["X"].dtype == np.uint8 and not d["X"].any()
    assert d["y"].shape == (n, 1) and (d["y"] == 1).all()


def test_a_mat_decompression_bomb_is_refused_from_its_header(tmp_path):
    data = tmp_path / "bomb"
    data.mkdir()
    mat_bomb(data / "train_32x32.mat", 1_200_000)  # 3.7 GB once decompressed, 23 MB on disk
    assert (data / "train_32x32.mat").stat().st_size < 30_000_000
    p = run_cli("svhn", "train", "--data", str(data), "--out", str(tmp_path / "r"), mem_mb=2500, timeout=120)
    assert_refused(p, "1,200,000 images")


def test_a_mat_with_wrong_shapes_is_refused(tmp_path, capsys):
    import scipy.io

    from .helpers import refused_here

    data = tmp_path / "odd"
    data.mkdir()
    scipy.io.savemat(data / "test_32x32.mat", {"X": np.zeros((28, 28, 3, 4), np.uint8), "y": np.ones((4, 1))})
    # in this process: the same main() (`svhn evaluate` runs as a whole process in the image-folder test below);
    # the shipped CNN, so that the refusal is the data's (a missing --checkpoint was refused before the data was read)
    refused_here(["svhn", "evaluate", "--data", str(data)], capsys, "test_32x32.mat",
                 "X must be uint8 of shape (32, 32, 3, N), got uint8 (28, 28, 3, 4)")


@pytest.mark.parametrize("damage, needle", [
    ("random bytes", "not a MATLAB file, or damaged or cut short"),  # was "(ValueError)"
    ("empty", "not a MATLAB file, or damaged or cut short"),  # was "(MatReadError)"
    ("cut in half", "holds X (a file cut short holds fewer)"),  # was "(it needs variables X and y)": it has X
])
def test_a_damaged_mat_file_is_named_in_words_not_by_exception_class(tmp_path, synth_dir, capsys, damage, needle):
    import random

    from .helpers import refused_here

    whole = (synth_dir / "test_32x32.mat").read_bytes()
    data = tmp_path / "data"
    data.mkdir()
    (data / "test_32x32.mat").write_bytes({"random bytes": random.Random(0).randbytes(10_000), "empty": b"",
                                           "cut in half": whole[:len(whole) // 2]}[damage])
    line = refused_here(["svhn", "evaluate", "--data", str(data)], capsys, "test_32x32.mat", needle)
    assert "Error" not in line, line


def test_a_tampered_grayscale_cache_is_rebuilt(synth_dir):
    from dlexam.svhn.data.official import _cache_path, load_split

    want_x, want_y = load_split(synth_dir, "test")
    cache = _cache_path(synth_dir / "test_32x32.mat")
    with np.load(cache) as z:
        stamp, images, labels = z["stamp"], z["images"], z["labels"]
    np.savez(cache, stamp=stamp, images=images[::-1].copy(), labels=np.full_like(labels, 99))  # same stamp, lies
    x, y = load_split(synth_dir, "test")
    assert torch.equal(y, want_y) and torch.equal(x, want_x)


@pytest.mark.parametrize("side, needle", [(60_000, "declares more pixels than dlexam reads"),
                                         (8_000, "is 8000 x 8000 pixels")])
def test_an_image_bomb_is_refused_from_its_header(tmp_path, side, needle):
    """A PNG that declares side x side pixels (3.6 gigapixels, or 64 megapixels) in a few kilobytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit grayscale
    row = b"\x00" + b"\x00" * side
    body = zlib.compressobj(9)
    data = b"".join(body.compress(row) for _ in range(200)) + body.flush()  # only the first rows: enough
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    p = run_cli("svhn", "predict", str(tmp_path / "bomb.png"), mem_mb=2000, timeout=60)
    assert_refused(p, needle)


def test_image_folders_with_bad_layout_are_one_line(tmp_path, capsys):
    from PIL import Image

    bad = tmp_path / "named"
    for name in ("seven", "7"):
        (bad / name).mkdir(parents=True)
        Image.new("L", (8, 8)).save(bad / name / "a.png")
    assert_refused(run_cli("svhn", "evaluate", "--data", str(bad)), "'seven' is not a digit")
    empty = tmp_path / "empty"
    (empty / "3").mkdir(parents=True)
    refused_here(["svhn", "evaluate", "--data", str(empty)], capsys, "holds no images")  # the same main(), here
    broken = tmp_path / "broken"
    (broken / "1").mkdir(parents=True)
    (broken / "1" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    before = snapshot(tmp_path)
    refused_here(["svhn", "evaluate", "--data", str(broken)], capsys, "not a readable image")
    assert snapshot(tmp_path) == before


@pytest.fixture(scope="module")
def saved_key(tmp_path_factory):
    """key.json of `dlexam variant --seed 7 --out DIR --format key`, parsed."""
    import json

    from dlexam.cli import main

    out = tmp_path_factory.mktemp("variant")
    assert main(["variant", "--seed", "7", "--out", str(out), "--format", "key"]) == 0
    return json.loads((out / "key.json").read_text())


def _changed(key: dict, aid: str, **changes) -> dict:
    import copy

    key = copy.deepcopy(key)
    key["fields"][aid].update(changes)
    return key


@pytest.mark.parametrize("damage, needles", [
    # json's RecursionError escaped as a traceback
    ("deep", ["nested too deeply"]),
    # Fraction("1e100000") expands a 100,001-digit integer ("1e999999999" never finished)
    ("huge exponent", ["P:", "exponents within"]),
    # an option 0 of 4 was taken, then its text read as options[-1], an IndexError where there were none
    ("option 0", ["choice: option 0 of 4"]),
    ("option 1.5", ["choice: option 1.5 of 4"]),  # was int(1.5): option 1
    # labels that do not match the matrix: IndexError when a cell was wrong
    ("row labels", ["P: 2 labels for 7 rows"]), ("column labels", ["logits: 1 labels for 6 columns"]),
    # a 5,000-digit number: the message was Python's advice about sys.set_int_max_str_digits()
    ("5000 digits", ["a whole number of more than"]),
    # follow-through rules (key.json's `follows`, since 2026-12-07): one it does not know, data that is no numbers
    ("follow rule", ["loss: a follow-through rule 'eval'"]), ("follow data", ["follow-through data rows"]),
])
def test_a_hostile_key_json_is_one_line_before_any_grading(tmp_path, capsys, saved_key, damage, needles):
    import json

    from .helpers import refused_here

    k = saved_key
    text = {
        "deep": lambda: "[" * 100_000 + "]" * 100_000,
        "huge exponent": lambda: json.dumps(_changed(k, "Pr2.2.P", answer=[["1e100000"] * 7] * 7)),
        "option 0": lambda: json.dumps(_changed(k, "P1.1.choice", answer=0)),
        "option 1.5": lambda: json.dumps(_changed(k, "P1.1.choice", answer=1.5)),
        "row labels": lambda: json.dumps(_changed(k, "Pr2.2.P", row_labels=["a", "b"])),
        "column labels": lambda: json.dumps(_changed(k, "Pr2.3.logits", col_labels=["a"])),
        "5000 digits": lambda: json.dumps(k).replace('"seed": 7', '"seed": ' + "7" * 5000, 1),
        "follow rule": lambda: json.dumps(_changed(k, "Pr2.3.loss", follows=[
            {**k["fields"]["Pr2.3.loss"]["follows"][0], "rule": "eval"}])),
        "follow data": lambda: json.dumps(_changed(k, "Pr2.3.loss", follows=[
            {**k["fields"]["Pr2.3.loss"]["follows"][0], "data": {"rows": ["__import__"], "targets": [0]}}])),
    }[damage]()
    (tmp_path / "key.json").write_text(text)
    sheet = {aid: v for aid, v in k["key"].items() if aid not in ("seed", "difficulty", "fingerprint")}
    sheet["Pr2.2.P"] = [["9"] * 7] * 7  # every cell wrong: its feedback reads the row labels
    sheet["Pr2.3.logits"] = [["9"] * 6] * 3
    sheet["P1.1.choice"] = 1 if k["key"]["P1.1.choice"] != 1 else 2  # wrong: its feedback reads the options
    (tmp_path / "sheet.json").write_text(json.dumps(sheet))
    line = refused_here(["grade", "--key", str(tmp_path / "key.json"), str(tmp_path / "sheet.json")], capsys,
                        "not a key.json", *needles)
    assert len(line) < 400 and "sys." not in line, line


def _deflated(src, dst) -> None:
    """`src`'s archive written again with every entry deflated (torch.load reads it all the same)."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))


@pytest.mark.parametrize("command", [["svhn", "predict", "IMAGE"], ["svhn", "evaluate", "--data", "unused"],
                                     ["sort", "A B"]])
def test_a_compressed_checkpoint_is_refused_before_it_is_unpacked(tmp_path, capsys, command):
    """A checkpoint of 80 kB whose deflated archive unpacks to 80 MB of zeros was read whole into memory
    (a few MB of file: gigabytes); torch.save never compresses, so dlexam refuses it before unpacking."""
    from dlexam.svhn.shipped import shipped_path

    from .helpers import refused_here

    payload = checkpoint.load(shipped_path())
    plain = tmp_path / "plain.pt"
    checkpoint.save(plain, kind=payload["kind"], config=payload["config"], state_dict=payload["state_dict"],
                    extra={**payload["extra"], "junk": torch.zeros(20_000_000)})
    bomb = tmp_path / "bomb.pt"
    _deflated(plain, bomb)
    assert bomb.stat().st_size < plain.stat().st_size // 100
    with pytest.raises(checkpoint.UserError, match="compressed or oversized entries"):
        checkpoint.load(bomb)
    image = tmp_path / "digit.png"
    from PIL import Image

    Image.new("L", (32, 32), 128).save(image)
    argv = [str(image) if word == "IMAGE" else word for word in command]
    refused_here([*argv, "--checkpoint", str(bomb)], capsys, "compressed or oversized")
