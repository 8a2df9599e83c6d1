"""Colours as a colour-managed viewer shows them: an image's ICC profile, or CIELab, converted to sRGB before luma.

A phone photo's pixels are not sRGB values: an iPhone's carry a Display P3 profile, a camera's may carry Adobe RGB,
and a viewer (a browser, Preview, Photos) converts them to the screen's colours through that profile. Read as sRGB,
a P3 photo's saturated green (60, 200, 60) reads as luma 142 where its sRGB colour (0, 203, 11) has 121.
:func:`srgb_transform` reads the profile embedded in the file (PNG's iCCP, JPEG's APP2, WebP's ICCP, TIFF's and
AVIF's; Pillow's ``info["icc_profile"]``) and :class:`ToSrgb` converts a strip of decoded rows to sRGB with
LittleCMS (Pillow's ImageCms): alpha, a palette's transparent entries and a PNG's colour key are kept as alpha, for
:func:`dlexam.svhn.data.pixels.to_gray` to composite on white. A CIELab image (a Lab TIFF, Pillow's mode LAB) is
converted through LittleCMS's Lab profile (D50) to sRGB.

A profile that cannot be used is passed over and the pixels read as sRGB, as a viewer shows such a file and as
dlexam read every file until 2026-12-07: one LittleCMS cannot parse (damaged, cut short, not a profile), one whose
colour space is not the image's (a grey profile on an RGB image), one that is not an input's (a device link), and
any profile where Pillow was built without LittleCMS.
There is no per-image note to give: `read_image` returns pixels. Read as before, without their profile: 16-bit colour
(:class:`~dlexam.svhn.data.pixels.DeepColour`), 16-bit grey and float images (ImageCms converts 8-bit images only),
and CMYK images (Pillow's own conversion to RGB).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

# Pillow's modes each ICC colour space converts from: the colour part of an image of that mode, alpha apart
PROFILE_SPACES = {"RGB": ("RGB", "RGBA", "RGBX", "RGBa", "P", "PA"), "GRAY": ("L", "LA", "La", "1"), "LAB": ("LAB",)}
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
NOOPTIMIZE = 0x0100  # LittleCMS's cmsFLAGS_NOOPTIMIZE (Pillow 10.3 names it ImageCms.Flags.NOOPTIMIZE)


@dataclass(frozen=True)
class ToSrgb:
    """The conversion of an image's colours (of Pillow mode `base`) to sRGB, applied a strip at a time: a LittleCMS
    transform, or for a grey image the table of its 256 levels' sRGB colours (LittleCMS's optimised 8-bit grey
    transform interpolates a grid: a linear-light grey 1 came out 6, not 13)."""

    base: str  # RGB, L or LAB
    transform: object = None  # PIL.ImageCms.ImageCmsTransform, base -> RGB; None for a grey image
    grey_table: tuple[int, ...] = ()  # a grey image's: the sRGB R of levels 0..255, then G, then B

    def __call__(self, img):
        """A decoded image (or a strip of one) -> its sRGB colours: RGB, or RGBA where it has any transparency
        (alpha, a palette's transparent entries, a PNG's colour key: the alpha Pillow's RGBA conversion gives)."""
        from PIL import ImageCms

        alpha = None
        if img.mode in _ALPHA_MODES or "transparency" in img.info:
            alpha = img.convert("RGBA").getchannel("A")
        colour = img if img.mode == self.base else img.convert(self.base)
        if self.transform is None:  # grey: R = G = B = the level, each band looked up in its own table
            out = colour.convert("RGB").point(list(self.grey_table))
        else:
            out = ImageCms.applyTransform(colour, self.transform)
        if alpha is not None:
            out.putalpha(alpha)
        return out


def srgb_transform(img) -> ToSrgb | None:
    """The conversion of `img`'s colours (opened; its header read) to sRGB: through its embedded ICC profile, or
    for a CIELab image through LittleCMS's Lab profile; None where there is none to make (no profile, or one that
    cannot be used: the pixels are then read as sRGB)."""
    icc = img.info.get("icc_profile")
    if not icc and img.mode != "LAB":
        return None
    try:
        from PIL import Image, ImageCms  # LittleCMS: in Pillow's wheels; a Pillow built without it has no ImageCms
    except ImportError:
        return None
    try:
        srgb = ImageCms.createProfile("sRGB")
        if icc:
            source = ImageCms.ImageCmsProfile(io.BytesIO(bytes(icc)))
            base = source.profile.xcolor_space.strip().upper()  # RGB, GRAY, LAB, CMYK, ...
        else:
            source, base = ImageCms.createProfile("LAB"), "LAB"
        if img.mode not in PROFILE_SPACES.get(base, ()):
            if img.mode != "LAB":
                return None  # a profile of another colour space than the image's: passed over
            source, base = ImageCms.createProfile("LAB"), "LAB"
        if base == "GRAY":  # 256 levels, each converted exactly (unoptimised: float all the way)
            levels = Image.frombytes("L", (256, 1), bytes(range(256)))
            exact = ImageCms.buildTransformFromOpenProfiles(source, srgb, "L", "RGB", flags=NOOPTIMIZE)
            return ToSrgb("L", grey_table=tuple(ImageCms.applyTransform(levels, exact).tobytes("raw", "RGB;L")))
        # RGB: LittleCMS's optimised 8-bit transform, exact for matrix/TRC profiles (phones', cameras'); Lab's goes
        # through a grid it interpolates (up to 6 grey levels off): unoptimised, float all the way
        flags = 0 if base == "RGB" else NOOPTIMIZE
        return ToSrgb(base, ImageCms.buildTransformFromOpenProfiles(source, srgb, base, "RGB", flags=flags))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError, AttributeError):
        return None  # damaged, cut short, not a profile, or not one an image converts from (a device link)
