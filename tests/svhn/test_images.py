"""Photos as SVHN crops (square by repeating edges, aspect kept, 32x32) and image folders as data."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dlexam.cli import main
from dlexam.errors import UserError
from dlexam.svhn.data.image_folder import load_image_folder
from dlexam.svhn.data.images import UPLOAD_FORMATS, read_image
from dlexam.svhn.data.official import load_labelled
from dlexam.svhn.data.pixels import svhn_crop


def test_a_32x32_image_is_left_as_it_is():
    gray = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    assert np.array_equal(svhn_crop(gray), gray)


def test_tall_photo_keeps_its_aspect_and_repeats_its_edges():
    # a 64x32 (rows x columns) photo: background 200, a dark bar 8 columns wide in the middle,
    # left edge column 10 and right edge column 250 (what the extension must repeat)
    img = np.full((64, 32), 200, np.uint8)
    img[:, 12:20] = 0
    img[:, 0], img[:, -1] = 10, 250
    out = svhn_crop(img).astype(int)
    # by hand: the square is 64x64 with 16 copies of each edge column per side, then halved:
    # the bar is 4 columns wide at 14..17, the extended margins read 10 (left) and 250 (right)
    assert out.shape == (32, 32)
    assert (out[:, 14:18] < 40).all() and (out[:, 12] > 150).all() and (out[:, 19] > 150).all()
    assert (np.abs(out[:, :6] - 10) <= 2).all() and (np.abs(out[:, -6:] - 250) <= 2).all()


def test_wide_photo_is_extended_vertically():
    img = np.zeros((20, 80), np.uint8)
    img[0, :], img[-1, :] = 100, 180  # top and bottom rows, repeated upwards and downwards
    out = svhn_crop(img).astype(int)
    assert out.shape == (32, 32)
    assert (np.abs(out[:8] - 100) <= 2).all() and (np.abs(out[-8:] - 180) <= 2).all()


def test_downscaling_a_blocky_upscale_gives_the_original_back():
    small = np.random.default_rng(1).integers(0, 256, (8, 8), dtype=np.uint8)
    big = np.kron(small, np.ones((12, 12), np.uint8))  # (96, 96): each pixel a 12x12 block
    smooth = np.asarray(Image.fromarray(big).resize((32, 32), Image.BOX))  # oracle: box filter
    assert np.abs(svhn_crop(big).astype(int) - smooth.astype(int)).mean() < 12


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "I;16", "LA"])
def test_read_image_takes_any_mode(tmp_path, mode):
    rgb = np.zeros((40, 30, 3), np.uint8)
    rgb[:, :, 0] = 255  # pure red: luma 76 (ITU-R 601-2)
    img = Image.fromarray(rgb)
    if mode == "I;16":
        img = Image.fromarray((np.full((40, 30), 76 * 257)).astype(np.uint16))
    elif mode != "RGB":
        img = img.convert(mode)
    path = tmp_path / "x.png"
    img.save(path)
    x = read_image(path)
    assert x.shape == (32, 32) and not x.dtype.is_floating_point
    assert abs(int(x[16, 16]) - 76) <= 1


def _folder(root, layout: dict) -> None:
    rng = np.random.default_rng(0)
    for digit, sizes in layout.items():
        (root / digit).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / digit / f"{i}.{'jpg' if i % 2 else 'png'}")


def test_image_folder_reads_labels_from_folder_names(tmp_path):
    _folder(tmp_path / "d", {"0": [(32, 32), (50, 20)], "7": [(10, 40)], "9": [(64, 64), (32, 32), (33, 31)]})
    (tmp_path / "d" / "README.md").write_text("ignored")
    (tmp_path / "d" / "7" / "notes.txt").write_text("ignored")
    x, y, paths = load_image_folder(tmp_path / "d")
    assert x.shape == (6, 32, 32) and y.tolist() == [0, 0, 7, 9, 9, 9]
    assert [p.rsplit("/", 2)[-2] for p in paths] == ["0", "0", "7", "9", "9", "9"]
    x2, y2, source = load_labelled(tmp_path / "d", "test")
    assert source == "folder" and (x2 == x).all() and (y2 == y).all()


def test_jpegs_named_jfif_or_jpe_and_netpbm_named_pnm_are_read_not_passed_over(tmp_path):
    """A JPEG a browser saved on Windows (.jfif), a .jpe and a .pnm were left out of a class folder without a word,
    though `svhn predict` reads them. Oracle: the four files written, read in sorted order, each the same grey."""
    (d := tmp_path / "d" / "4").mkdir(parents=True)
    for i, (name, fmt) in enumerate((("a.png", "PNG"), ("b.jfif", "JPEG"), ("c.JPE", "JPEG"), ("d.pnm", "PPM"))):
        Image.new("L", (32, 32), 40 * (i + 1)).save(d / name, format=fmt)
    x, y, paths = load_image_folder(tmp_path / "d")
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["a.png", "b.jfif", "c.JPE", "d.pnm"] and y.tolist() == [4] * 4
    assert [int(v) for v in x[:, 16, 16]] == [40, 80, 120, 160]


def test_images_in_folders_inside_a_class_folder_are_read_as_torchvision_reads_them(tmp_path, capsys):
    """DIR/3/batch1/*.png (torchvision's ImageFolder walks a class folder's sub-folders) were silently left out: an
    evaluation counted fewer images than the folder held, and a class folder holding only sub-folders "held no
    images". A link to a folder above is read once (no loop); hidden folders are left out."""
    _folder(tmp_path / "d", {"0": [(32, 32)], "3": [(40, 20)]})
    d = tmp_path / "d"
    _folder(d / "3", {"batch1": [(32, 32), (20, 30)], "batch2": [(32, 32)]})
    _folder(d / "0" / "deeper", {"more": [(16, 16)]})
    _folder(d / "0", {".thumbnails": [(8, 8)]})
    (d / "3" / "batch1" / "up").symlink_to(d / "3", target_is_directory=True)
    x, y, paths = load_image_folder(d)
    names = [p.split("/d/", 1)[1] for p in paths]
    assert names == ["0/0.png", "0/deeper/more/0.png", "3/0.png", "3/batch1/0.png", "3/batch1/1.jpg",
                     "3/batch2/0.png"], names
    assert y.tolist() == [0, 0, 3, 3, 3, 3] and x.shape == (6, 32, 32)
    assert main(["svhn", "evaluate", "--data", str(d), "--json"]) == 0
    r = __import__("json").loads(capsys.readouterr().out)
    assert r["n"] == 6 and sum(r["confusion"][3]) == 4 and sum(r["confusion"][0]) == 2
    (d / "3" / "batch2" / "gone.png").symlink_to(tmp_path / "nowhere.png")  # a link to an image that is not there
    with pytest.raises(UserError, match="image not found: .*gone.png"):
        load_image_folder(d)


def test_evaluate_writes_no_png_among_the_images_it_reads(tmp_path, capsys):
    """`--png D/3/cm.png` wrote the confusion matrix into a class folder of the image folder evaluated, and the next
    evaluation read it as one more 3; `--png D/figures/cm.png` made a folder whose name is no digit, after which D
    could not be read at all. Both are refused before any work; beside the class folders it is written."""
    d = tmp_path / "d"
    _folder(d, {"0": [(32, 32)], "3": [(32, 32)]})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for png in (d / "3" / "cm.png", d / "figures" / "cm.png"):
        rc = main(["svhn", "evaluate", "--data", str(d), "--png", str(png)])
        err = capsys.readouterr().err.splitlines()
        assert rc == 2 and len(err) == 1 and "is inside the image folder" in err[0], err
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert main(["svhn", "evaluate", "--data", str(d), "--png", str(d / "cm.png"), "--json"]) == 0
    assert (d / "cm.png").is_file() and __import__("json").loads(capsys.readouterr().out)["n"] == 2


def test_evaluate_names_a_folder_given_as_a_relative_path_and_counts_in_words(tmp_path, capsys):
    _folder(tmp_path / "one", {"5": [(32, 32)]})
    assert main(["svhn", "evaluate", "--data", str(tmp_path / "one" / "5" / "..")]) == 0
    out = capsys.readouterr().out  # "..: accuracy 1.0000 on 1 images" named neither the folder nor one image
    result = [line for line in out.splitlines() if ": accuracy " in line]  # after the "trained with" lines
    assert len(result) == 1 and result[0].startswith("one: accuracy ") and " on 1 image (" in result[0], out


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: (d / "seven").mkdir(), "not a digit"),
        (lambda d: (d / "3").mkdir(), "holds no images"),
        (lambda d: (d / "0" / "broken.png").write_bytes(b"\x89PNG not really"), "not a readable image"),
    ],
)
def test_bad_image_folders_are_one_line_exit_2_and_touch_nothing(tmp_path, capsys, make, message):
    d = tmp_path / "d"
    _folder(d, {"0": [(32, 32)], "1": [(32, 32)]})
    make(d)
    with pytest.raises(UserError, match=message):
        load_image_folder(d)
    png = tmp_path / "mine.png"
    png.write_bytes(b"a file dlexam did not create")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    rc = main(["svhn", "evaluate", "--data", str(d), "--png", str(tmp_path / "new.png")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1  # the error alone: the model note comes with results
    assert png.read_bytes() == b"a file dlexam did not create"
    rc = main(["svhn", "evaluate", "--data", str(d), "--png", str(png)])  # refused before reading the folder
    assert rc == 2 and "not written by dlexam" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_an_empty_image_file_is_said_to_be_empty(tmp_path):
    """A 0-byte file named as an image (a copy or a download that failed) was told to "choose a PNG, JPEG, ... file",
    though it is named as one; an empty upload was already said to be empty."""
    path = tmp_path / "3.png"
    path.write_bytes(b"")
    with pytest.raises(UserError, match=r"^\S*3\.png is empty \(0 bytes\)$"):
        read_image(path)


@pytest.mark.parametrize("fmt, keep", [("PNG", 40), ("GIF", 12), ("TIFF", 10)])
def test_a_damaged_file_of_a_format_dlexam_reads_is_named_as_one(fmt, keep):
    """A file that starts as a PNG, GIF or TIFF does (its signature) but whose header Pillow cannot read was
    told to "choose a PNG, ..., TIFF ... file", the format it is in; a JPEG or PNG cut shorter was already "damaged or
    cut short". Oracle: the format the file was written in, and its first `keep` bytes."""
    import io

    buf = io.BytesIO()
    Image.new("RGB", (20, 30), "white").save(buf, format=fmt)
    with pytest.raises(UserError, match=rf"^the file is not a readable image: a {fmt} file that is damaged or cut "
                                        r"short$"):
        read_image(buf.getvalue()[:keep])


def test_train_and_evaluate_take_an_image_folder(tmp_path, capsys, monkeypatch):
    d = tmp_path / "d"
    _folder(d, {str(k): [(32, 32), (40, 30), (24, 48), (32, 32)] for k in range(10)})
    run = tmp_path / "run"
    args = ["svhn", "train", "--data", str(d), "--out", str(run), "--quick", "--quiet", "--threads", "1"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["svhn", "evaluate", "--checkpoint", str(run), "--data", str(d), "--json"]) == 0
    r = __import__("json").loads(capsys.readouterr().out)
    assert r["n"] == 40 and r["source"] == "folder" and r["split"] == "d"
    assert (run / "confusion_d.png").is_file()  # confusion_<the folder's name>.png, as "split" says
    monkeypatch.chdir(d / "3")  # `--data ..` (or `.`) said ": accuracy ..." and "split": "", the folder unnamed
    assert main(["svhn", "evaluate", "--checkpoint", str(run), "--data", "..", "--json", "--png", "../../cm.png"]) == 0
    assert __import__("json").loads(capsys.readouterr().out)["split"] == "d"


APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00" + b"Mac OS X        " + b"\x00" * 58  # an AppleDouble header


def test_a_folder_unzipped_from_a_mac_reads_its_images_and_passes_over_macos_metadata(tmp_path, capsys):
    """A zip file made on a Mac holds __MACOSX/ (its files' AppleDouble metadata, ._NAME) beside the folders: the
    image folder was refused ("class folder '__MACOSX' is not a digit 0-9"). Now __MACOSX and ._NAME files are passed
    over, wherever they are, and a class folder holding nothing else says so in one line."""
    d = tmp_path / "d"
    _folder(d, {"0": [(32, 32)], "7": [(40, 20)]})
    for meta in ("__MACOSX/0/._0.png", "__MACOSX/7/._0.jpg", "__MACOSX/._7", "0/._0.png", "7/__MACOSX/._x.png"):
        (d / meta).parent.mkdir(parents=True, exist_ok=True)
        (d / meta).write_bytes(APPLEDOUBLE)
    x, y, paths = load_image_folder(d)
    assert [p.split("/d/", 1)[1] for p in paths] == ["0/0.png", "7/0.png"] and y.tolist() == [0, 7]
    assert (x[0] == read_image(d / "0" / "0.png")).all() and (x[1] == read_image(d / "7" / "0.png")).all()
    assert main(["svhn", "evaluate", "--data", str(d), "--json"]) == 0
    assert __import__("json").loads(capsys.readouterr().out)["n"] == 2

    (d / "3").mkdir()
    (d / "3" / "._IMG_1.png").write_bytes(APPLEDOUBLE)  # the image itself was left out of the zip
    with pytest.raises(UserError, match=r"class folder .*/3 holds no images, only hidden files such as ._IMG_1.png"):
        load_image_folder(d)
    rc = main(["svhn", "evaluate", "--data", str(d)])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(err) == 1 and "macOS's metadata" in err[0], err


def refused_here(argv: list[str], capsys, *needles: str) -> str:
    """`dlexam ARGV` in this process: exit status 2 and one error line, nothing else (the shipped-model note
    comes with results only), holding every needle; returns the line."""
    rc = main(argv)
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("dlexam: error: "), (rc, err)
    for needle in needles:
        assert needle in err[0], (needle, err[0])
    return err[0]


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64  # a HEIC file's start (ISO media ftyp box)


def test_an_iphone_heic_photo_is_named_and_not_passed_over(tmp_path, capsys):
    """A class folder's IMG_0001.HEIC was silently left out (a folder of iPhone photos "held no images", or was
    evaluated without them), and `predict` said "choose a PNG, JPEG, ..." without saying what the file was. Now either
    is one line naming the file as HEIC and asking for PNG or JPEG, exit 2, as an unreadable PNG is. WebP, TIFF and
    BMP files are read as before; a JPEG named .heic is read as the JPEG it is."""
    d = tmp_path / "d"
    _folder(d, {"0": [(32, 32)], "2": [(20, 30)]})
    rgb = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    for ext in ("webp", "tif", "bmp"):
        Image.fromarray(rgb).save(d / "2" / f"more.{ext}")
    assert load_image_folder(d)[1].tolist() == [0, 2, 2, 2, 2]
    Image.fromarray(rgb).save(d / "2" / "renamed.heic", format="JPEG")
    x, y, paths = load_image_folder(d)
    assert paths[-1].endswith("renamed.heic") and (x[-1] == read_image(d / "2" / "renamed.heic")).all()
    for name in ("IMG_0001.HEIC", "photo.heif"):
        (d / "2" / name).write_bytes(HEIC)
        line = refused_here(["svhn", "evaluate", "--data", str(d)], capsys, str(d / "2" / name), "HEIC/HEIF",
                            "convert it to PNG or JPEG")
        (d / "2" / name).unlink()
        assert "not a readable image" not in line
    (tmp_path / "IMG_0002.HEIC").write_bytes(HEIC)
    refused_here(["svhn", "predict", str(tmp_path / "IMG_0002.HEIC")], capsys, "IMG_0002.HEIC is a HEIC/HEIF photo")
    with pytest.raises(UserError, match=r"^the file is a HEIC/HEIF photo"):  # an upload to `dlexam serve`
        read_image(HEIC, formats=UPLOAD_FORMATS)


def test_avif_images_are_read_not_passed_over(tmp_path, capsys, monkeypatch):
    """A class folder's .avif images were silently left out (an evaluation counted fewer images than the folder held,
    a folder of AVIFs "held no images"), and `predict` called one "not a readable image" though Pillow decodes AVIF.
    Now they are read as Pillow decodes them (its EXIF orientation applied); where Pillow has no AVIF decoder, one
    line names the file as AVIF, exit 2, as a HEIC photo is."""
    from PIL import ImageOps

    import dlexam.svhn.data.images as images

    d = tmp_path / "d"
    _folder(d, {"3": [(32, 32)]})
    grey = np.add.outer(np.arange(32) * 7, np.arange(32) * 3).astype(np.uint8)  # no symmetry: a turn shows
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    Image.fromarray(grey).convert("RGB").save(d / "3" / "b.avif", quality=100, exif=exif)
    (d / "5").mkdir()
    Image.fromarray(grey.T.copy()).convert("RGB").save(d / "5" / "IMG_7.AVIF")
    with Image.open(d / "3" / "b.avif") as im:  # the oracle: Pillow's own decode, orientation and luma
        shown, stored = np.asarray(ImageOps.exif_transpose(im).convert("L")), np.asarray(im.convert("L"))
    assert shown.shape == (32, 32) and not (shown == stored).all()
    x, y, paths = load_image_folder(d)
    assert y.tolist() == [3, 3, 5] and [p.rsplit("/", 1)[1] for p in paths] == ["0.png", "b.avif", "IMG_7.AVIF"]
    assert (x[1].numpy() == shown).all()
    assert main(["svhn", "evaluate", "--data", str(d), "--json"]) == 0
    assert __import__("json").loads(capsys.readouterr().out)["n"] == 3
    assert main(["svhn", "predict", str(d / "5" / "IMG_7.AVIF")]) == 0
    capsys.readouterr()
    monkeypatch.setattr(images, "avif_readable", lambda: False)  # a Pillow without libavif
    refused_here(["svhn", "evaluate", "--data", str(d)], capsys, f"{d / '3' / 'b.avif'} is an AVIF image",
                 "convert it to PNG or JPEG")
    (tmp_path / "cut.avif").write_bytes((d / "5" / "IMG_7.AVIF").read_bytes()[:40])
    monkeypatch.undo()
    refused_here(["svhn", "predict", str(tmp_path / "cut.avif")], capsys, "cut.avif is not a readable image: an AVIF")


def test_a_32_bit_integer_image_is_scaled_by_its_maximum_not_clipped(tmp_path):
    """A 32-bit integer TIFF (Pillow's mode I) may hold values past 65535: divided by 65535 as a 16-bit image
    is, every pixel above 257 grey levels' worth saturated and a photographed 3 read as a white square (the
    shipped model said 1). Oracle: the same picture as an 8-bit L image, its values times 1000."""
    gray = np.random.default_rng(5).integers(0, 256, (40, 30), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "l.png")
    Image.fromarray(gray.astype(np.int32) * 1000, "I").save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    want, got = read_image(tmp_path / "l.png").numpy().astype(int), read_image(tmp_path / "i.tif").numpy().astype(int)
    assert np.abs(got - want).max() <= 1


@pytest.mark.parametrize("bits", [8, 10, 12])
def test_a_camera_image_of_fewer_bits_in_a_16_bit_png_keeps_its_grey_levels(tmp_path, bits):
    """Machine-vision cameras save 10- or 12-bit values unscaled in 16-bit PNGs (and tools 8-bit values): divided
    by 65535, a 12-bit image kept 16 grey levels, a 10-bit one 4 and an 8-bit one 1 (a photographed 3 read as 6).
    Such an image is now scaled by the smallest of 8, 10, 12 and 16 bits that holds its values. Oracle: the same
    picture as an 8-bit L image."""
    gray = np.random.default_rng(6).integers(0, 256, (40, 30), dtype=np.uint8)
    gray[0, 0] = 255  # the picture's white, as a camera's full scale
    Image.fromarray(gray).save(tmp_path / "l.png")
    Image.fromarray((gray.astype(np.uint32) * (2**bits - 1) // 255).astype(np.uint16)).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    want = read_image(tmp_path / "l.png").numpy().astype(int)
    assert np.abs(read_image(tmp_path / "deep.png").numpy().astype(int) - want).max() <= 1


def test_predict_says_one_line_per_image_whatever_its_name(tmp_path, capsys):
    """A file name holding a newline broke `svhn predict`'s one line per image (an audit, 2026-12-07): a name's
    newline, tab or escape is written as Python escapes it; a name that is not UTF-8 with its byte as `ls -b` does."""
    names = ["a\nb.png", "tab\there.png", b"caf\xe9.png".decode("utf-8", "surrogateescape"), "plain é.png"]
    for name in names:
        Image.fromarray(np.full((32, 32), 90, dtype=np.uint8)).save(tmp_path / name, format="PNG")
    assert main(["svhn", "predict", *(str(tmp_path / n) for n in names)]) == 0
    lines = capsys.readouterr().out.splitlines()
    shown = ["a\\nb.png", "tab\\there.png", "caf\\xe9.png", "plain é.png"]
    assert len(lines) == len(names) and all(line.startswith(f"{tmp_path}/{s}: ") for line, s in zip(lines, shown,
                                                                                                    strict=True)), lines
