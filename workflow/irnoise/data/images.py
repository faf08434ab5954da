"""One image as it goes into a shard: JPEG bytes whose shorter side is at most `image_size`.

Sharding resizes every image once, so that training never decodes more pixels than it
uses. Re-encoding costs quality and time, so an image that is already a small, complete
JPEG is kept byte for byte; everything else is decoded, converted to RGB, shrunk to the
target shorter side and re-encoded. Images are never enlarged: upscaling adds no
information and the training transforms can do it when a crop needs it.

Pixels of more than 8 bits are scaled, never clipped: 16-bit grey (a 16-bit PNG) by
255/65535; 32-bit integer and floating-point images state no range and are refused as
unreadable, naming their mode (Pillow's own conversion would clip them to white).

EXIF orientation is not applied, for the same reason kept JPEGs are not rotated: every
image must be oriented the same way, and the study's reference pipelines (PIL,
torchvision) ignore the tag too.

Damaged entropy-coded data is the one defect both Pillow and torchvision.io decode
silently (into grey or smeared blocks): libjpeg only *warns* about it, and neither passes
the warning on. Every JPEG is therefore decoded once more by libjpeg-turbo through
simplejpeg in strict mode, which turns those warnings into errors; Pillow's own warnings
while decoding any format count as corruption too. Messages name the defect, never an
object (no `<_io.BytesIO object at 0x...>`), so that a manifest listing skipped images is
the same on every run.
"""

from __future__ import annotations

import io
import re
import struct
import warnings

import numpy as np
import simplejpeg
from PIL import Image

JPEG_QUALITY = 95
# Frames that every JPEG decoder reads: baseline, extended and progressive Huffman coding.
# Lossless, hierarchical and arithmetic-coded frames are re-encoded (or rejected) instead.
PLAIN_FRAMES = frozenset({0xC0, 0xC1, 0xC2})
ALL_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # C4, C8, CC are not frames
START_OF_IMAGE = b"\xff\xd8"
START_OF_SCAN = 0xDA
END_OF_IMAGE = b"\xff\xd9"
# Draft (DCT-domain) reduction stops at twice the target, like Image.thumbnail's reducing_gap,
# so that the final resampling filter still does the last, quality-relevant step.
REDUCING_GAP = 2
_SEGMENT = struct.Struct(">BBH")  # 0xFF, marker, length of the segment after the marker
_FRAME = struct.Struct(">BHHB")  # precision, height, width, components
# An object's default repr (`<_io.BytesIO object at 0x7f...>`) differs between runs.
_OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
# libjpeg's color spaces as simplejpeg names them; decoding in the file's own space
# converts nothing (CMYK cannot be converted to RGB by libjpeg at all).
_NATIVE_COLORSPACE = {"Gray": "GRAY", "CMYK": "CMYK", "YCCK": "CMYK"}
# The check only needs the entropy-coded data read: libjpeg's smallest DCT scaling (1/8)
# skips most of the inverse transform.
_CHECK_SCALE = 8
# Pillow's modes of 16-bit grey pixels (a 16-bit grey PNG opens as one of them). Pillow's
# own conversion to RGB clips them at 255, so that all but the darkest pixels turn white.
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


class CorruptImage(Exception):
    """The bytes are not an image that Pillow can decode completely."""


class UnsupportedPixels(CorruptImage):
    """Pixels whose range nothing in the file states (32-bit integers, floats)."""


def prepare(data: bytes, image_size: int, face_crop: float | None = None) -> bytes:
    """JPEG bytes for a shard: `data` itself when usable as it is, else a resized re-encoding.

    With `face_crop`, the central `face_crop` share of each side is cut out first (then
    resized to `image_size`), so the image is always re-encoded.
    Raises CorruptImage when the bytes cannot be decoded completely and without warnings.
    """
    if face_crop is None and is_small_jpeg(data, image_size):
        check_jpeg_data(data)
        return data
    jpeg = reencode(data, image_size, face_crop)  # Pillow's errors first: they say more than libjpeg's
    if data.startswith(START_OF_IMAGE):
        check_jpeg_data(data)
    return jpeg


def check_jpeg_data(data: bytes) -> None:
    """Raise CorruptImage unless libjpeg decodes the JPEG without an error or a warning."""
    try:
        colorspace = simplejpeg.decode_jpeg_header(data)[2]
        simplejpeg.decode_jpeg(
            data,
            colorspace=_NATIVE_COLORSPACE.get(colorspace, "RGB"),
            min_factor=_CHECK_SCALE,
            strict=True,
        )
    except (ValueError, RuntimeError) as error:
        raise CorruptImage(f"libjpeg: {error}") from error


def describe(error: Exception) -> str:
    """`Type: message` of a decoding error, with object reprs replaced by what they stand for."""
    if isinstance(error, Image.UnidentifiedImageError):
        return "UnidentifiedImageError: not an image format Pillow can read"
    return f"{type(error).__name__}: {_OBJECT_REPR.sub('the image bytes', str(error))}"


def is_small_jpeg(data: bytes, image_size: int) -> bool:
    """A complete 8-bit grey or color JPEG whose shorter side is at most `image_size`."""
    frame = jpeg_frame(data)
    if frame is None:
        return False
    width, height, components = frame
    return 0 < min(width, height) <= image_size and components in (1, 3)


def jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, components) of a well-formed plain JPEG, else None.

    Walks the marker segments up to the first scan and checks that an end-of-image
    marker follows. A full decode would cost tens of times more than copying the file, and
    libjpeg only warns about damaged entropy-coded data anyway, so this structural check
    is what decides whether the bytes are kept; anything doubtful is decoded by Pillow.
    """
    if not data.startswith(START_OF_IMAGE):
        return None
    frame = None
    position = 2
    end = len(data) - 4
    while position <= end:
        fill, marker, length = _SEGMENT.unpack_from(data, position)
        if fill != 0xFF or length < 2:
            return None
        if marker == START_OF_SCAN:
            return frame if data.rfind(END_OF_IMAGE, position) >= 0 else None
        if marker in ALL_FRAMES:
            frame = plain_frame(data, position, marker)
            if frame is None:
                return None
        position += 2 + length
    return None


def plain_frame(data: bytes, position: int, marker: int) -> tuple[int, int, int] | None:
    """Parse a start-of-frame segment; None unless it is an 8-bit plain Huffman frame."""
    if marker not in PLAIN_FRAMES or position + 10 > len(data):
        return None
    precision, height, width, components = _FRAME.unpack_from(data, position + 4)
    return (width, height, components) if precision == 8 else None


def target_size(size: tuple[int, int], image_size: int) -> tuple[int, int]:
    """The size with the shorter side shrunk to `image_size`, aspect ratio kept; never larger."""
    width, height = size
    shorter = min(width, height)
    if shorter <= image_size:
        return size
    scale = image_size / shorter
    if width <= height:
        return image_size, max(1, round(height * scale))
    return max(1, round(width * scale)), image_size


def reencode(data: bytes, image_size: int, face_crop: float | None = None) -> bytes:
    """Decode, convert to RGB, (center-crop,) shrink the shorter side to `image_size`, encode."""
    try:
        image = decode(data, image_size) if face_crop is None else cropped(data, image_size, face_crop)
    except CorruptImage:
        raise
    except Exception as error:  # Pillow raises many types for bad input; all mean "corrupt"
        raise CorruptImage(describe(error)) from error
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def decode(data: bytes, image_size: int) -> Image.Image:
    """The fully decoded RGB image at its target size; a decoder warning raises it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # A large image is not a damaged one (Pillow still refuses absurd sizes).
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return decode_strictly(data, image_size)


UNLIMITED_SIZE = 1 << 30  # an image_size that never shrinks: the crop comes first


def center_box(size: tuple[int, int], share: float) -> tuple[int, int, int, int]:
    """The centered box holding `share` of each side (left, upper, right, lower)."""
    width, height = size
    crop_width, crop_height = max(1, round(width * share)), max(1, round(height * share))
    left, upper = (width - crop_width) // 2, (height - crop_height) // 2
    return left, upper, left + crop_width, upper + crop_height


def cropped(data: bytes, image_size: int, face_crop: float) -> Image.Image:
    """The central `face_crop` of each side, its shorter side resized to `image_size`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        full = decode_strictly(data, UNLIMITED_SIZE)
    face = full.crop(center_box(full.size, face_crop))
    shorter = min(face.size)
    target = (round(face.width * image_size / shorter), round(face.height * image_size / shorter))
    return face.resize(target, Image.Resampling.LANCZOS) if target != face.size else face


def decode_strictly(data: bytes, image_size: int) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        target = target_size(image.size, image_size)
        box = None
        if image.format == "JPEG" and target != image.size:
            # Let libjpeg skip most of the work for big JPEGs (an exact DCT-domain scaling).
            draft = image.draft(None, (target[0] * REDUCING_GAP, target[1] * REDUCING_GAP))
            box = draft[1] if draft else None
        image.load()
        rgb = to_rgb(image)
    if rgb.size != target or box is not None:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS, box=box)
    return rgb


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels; transparent areas become white rather than whatever color they hide."""
    image = to_eight_bits(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def to_eight_bits(image: Image.Image) -> Image.Image:
    """Grey pixels of more than 8 bits scaled to 0..255, or UnsupportedPixels naming the mode.

    16-bit grey (a 16-bit PNG: mode I;16, or I in older Pillow versions, PNG holding no
    more than 16 bits) is scaled by 255/65535. A 32-bit integer or floating-point image
    states no range (0..1? 0..255? 0..65535?), so any choice would be a guess.
    """
    sixteen_bits = image.mode in SIXTEEN_BIT_MODES or (image.mode == "I" and image.format == "PNG")
    if sixteen_bits:
        pixels = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.rint(pixels * (255 / 65535)).astype(np.uint8), "L")
    if image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "floating-point"
        raise UnsupportedPixels(
            f"unsupported pixels: mode {image.mode} ({kind} grey) has no stated range; "
            "save the image with 8 or 16 bits per channel"
        )
    return image
