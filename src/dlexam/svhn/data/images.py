"""Photos as SVHN digits: one crop function for `svhn predict` and for image folders.

SVHN's Format 2 crops were made from each digit's bounding box, "extended in the appropriate
dimension to become square windows, so that resizing them to 32-by-32 pixels does not introduce
aspect ratio distortions". :func:`svhn_crop` does the same with a photo standing for the digit's
box: the shorter side is extended to a square, centred, by repeating the edge pixels (the photo
has no context beyond its border), and the square is resized to 32x32 with Pillow's antialiased
bicubic filter. A 32x32 image is left as it is. Grayscale is ITU-R 601-2 luma (Pillow's
``convert("L")``), as :func:`dlexam.svhn.data.official.rgb_to_gray` computes for .mat files.

Image folders use torchvision's ImageFolder layout: ``DIR/0/*.png ... DIR/9/*.png``, the folder
name being the digit; any size, any colour mode, PNG, JPEG, BMP, GIF, TIFF, WebP or PPM/PGM.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from dlexam.errors import UserError

SIZE = 32
MAX_PIXELS = 50_000_000  # a 50-megapixel photo at most: the size is read from the header, before decoding
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")


def to_gray(img) -> np.ndarray:
    """A Pillow image of any mode -> uint8 (H, W) luma. 16-bit and float images are scaled, not clipped.

    A phone photo's EXIF orientation is applied to `img` itself (in place: a copy of every image, most of which
    have none, cost 0.1 ms a drawn digit)."""
    from PIL import ImageOps

    ImageOps.exif_transpose(img, in_place=True)  # phone photos: apply the EXIF orientation
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode != "F" else max(1.0, float(a.max(initial=0.0)))  # float: [0, 1] or [0, max]
        return np.clip(np.round(a / max(top, 1e-12) * 255.0), 0, 255).astype(np.uint8)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        from PIL import Image

        rgba = img.convert("RGBA")
        if rgba.getchannel("A").getextrema() == (255, 255):
            img = rgba  # opaque (a canvas, most screenshots): compositing would change nothing and takes 0.4 ms
        else:
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)  # transparent pixels read as white paper
    if img.mode == "L":  # already luma: L -> RGB -> L gives every grey level back unchanged
        return np.asarray(img, dtype=np.uint8)
    return np.asarray(img.convert("RGB").convert("L"), dtype=np.uint8)


def svhn_crop(gray: np.ndarray, size: int = SIZE) -> np.ndarray:
    """uint8 (H, W) -> uint8 (size, size): extend the shorter side to a square (edge pixels), resize."""
    from PIL import Image

    h, w = gray.shape
    if h != w:
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        pad = ((top, side - h - top), (left, side - w - left))
        gray = np.pad(gray, pad, mode="edge")  # (H, W) -> (side, side)
    if gray.shape[0] == size:
        return gray.copy()
    resized = Image.fromarray(gray).resize((size, size), Image.BICUBIC, reducing_gap=None)
    return np.array(resized, dtype=np.uint8)


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file of any size and mode -> uint8 (32, 32) as :func:`svhn_crop` makes it."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"image not found: {p}")
    try:
        with Image.open(p) as img:
            w, h = img.size  # from the header: nothing is decoded yet
            if w * h > MAX_PIXELS:
                raise UserError(f"{p} is {w} x {h} pixels; dlexam reads images of at most {MAX_PIXELS:,} pixels")
            img.load()
            gray = to_gray(img)
    except Image.DecompressionBombError:  # Pillow's own guard, at open, for the most extreme headers
        raise UserError(f"{p} declares more pixels than dlexam reads ({MAX_PIXELS:,} at most)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{p} is not a readable image ({type(exc).__name__})") from None
    if gray.size == 0:
        raise UserError(f"{p} is an empty image")
    return torch.from_numpy(svhn_crop(gray))


def is_image_folder(root: str | os.PathLike) -> bool:
    """Does `root` look like an ImageFolder: a folder with at least one class folder named by a digit?"""
    p = Path(root)
    return p.is_dir() and any(c.is_dir() and len(c.name) == 1 and c.name in "0123456789" for c in p.iterdir())


def load_image_folder(root: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """DIR/0/*.png ... DIR/9/*.png -> (uint8 (N, 32, 32), labels int64 (N,), the files' paths).

    Every sub-folder must be named by one digit 0-9 and hold at least one image; hidden entries
    and files beside the class folders (a README) are ignored, as are non-image files.
    """
    p = Path(root)
    if not p.is_dir():
        raise UserError(f"image folder not found: {p}")
    classes = sorted(c for c in p.iterdir() if c.is_dir() and not c.name.startswith("."))
    if not classes:
        raise UserError(f"{p} holds no class folders (expected {p}/0/ ... {p}/9/ with images)")
    bad = [c.name for c in classes if c.name not in "0123456789" or len(c.name) != 1]
    if bad:
        raise UserError(f"{p}: class folder {bad[0]!r} is not a digit 0-9 (ImageFolder layout: {p}/0/ ... {p}/9/)")
    images, labels, paths = [], [], []
    for c in classes:
        files = sorted(f for f in c.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."))
        files = [f for f in files if f.is_file()]
        if not files:
            raise UserError(f"class folder {c} holds no images")
        for f in files:
            images.append(read_image(f))
            labels.append(int(c.name))
            paths.append(str(f))
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64), paths
