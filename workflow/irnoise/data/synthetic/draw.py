"""Rendering of prototype parts and backgrounds with Pillow and numpy.

Parts are drawn on a transparent canvas SUPERSAMPLE times the output size, with a
margin around the view so that parts pushed past its edge by a sample's warp are still
there to be warped back in; the warp then samples it down (see `perturb.warp`), which
antialiases the edges. Backgrounds are computed at the output size directly: they are
smooth, and drawing them large would cost more than everything else together.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from irnoise.data.synthetic.prototypes import Background, Element

MARGIN = 0.25  # canvas margin around the view, as a fraction of the view's side
SUPERSAMPLE = 2  # canvas pixels per output pixel
POLYGON_POINTS = 20  # vertices of an ellipse or ring


def canvas_size(image_size: int) -> int:
    return round(image_size * SUPERSAMPLE * (1 + 2 * MARGIN))


def draw_background(background: Background, size: int) -> np.ndarray:
    """The background as a float32 (size, size, 3) array."""
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    cos, sin = math.cos(background.angle), math.sin(background.angle)
    along = coords[None, :] * cos + coords[:, None] * sin
    if background.kind == "plain":
        weight = np.zeros_like(along)
    elif background.kind == "gradient":
        weight = (along - along.min()) / (along.max() - along.min())
    elif background.kind == "stripes":
        weight = 0.5 + 0.5 * np.sin(2 * math.pi * background.frequency * along + background.phase)
    else:
        across = coords[:, None] * cos - coords[None, :] * sin
        cells = np.floor(along * background.frequency) + np.floor(across * background.frequency)
        weight = 0.25 + 0.5 * (cells % 2)
    a = np.asarray(background.color_a, dtype=np.float32)
    b = np.asarray(background.color_b, dtype=np.float32)
    return a + weight[..., None].astype(np.float32) * (b - a)


def unit_outline(kind: str) -> list[tuple[float, float]]:
    """The polygon of a part's kind, radius 1 around the origin."""
    if kind == "rectangle":
        return [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
    if kind == "triangle":
        return [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    if kind == "star":
        radii = [1.0, 0.45] * 5
        return [
            (r * math.cos(math.pi * k / 5), r * math.sin(math.pi * k / 5))
            for k, r in enumerate(radii)
        ]
    angles = [2 * math.pi * k / POLYGON_POINTS for k in range(POLYGON_POINTS)]
    return [(math.cos(a), math.sin(a)) for a in angles]


def place(element: Element, view: float, offset: float) -> list[tuple[float, float]]:
    """The part's polygon scaled, squashed, rotated and moved into canvas pixels."""
    cos, sin = math.cos(math.radians(element.angle)), math.sin(math.radians(element.angle))
    rx, ry = element.size * view, element.size * element.aspect * view
    cx, cy = offset + element.x * view, offset + element.y * view
    return [
        (cx + px * rx * cos - py * ry * sin, cy + px * rx * sin + py * ry * cos)
        for px, py in unit_outline(element.kind)
    ]


@functools.lru_cache(maxsize=1)
def font_path() -> Path:
    # matplotlib ships DejaVu Sans; locate it without importing matplotlib (slow).
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise RuntimeError("matplotlib is needed for its DejaVu Sans font")
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"


@functools.lru_cache(maxsize=256)
def font(pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path()), pixels)


def draw_element(draw: ImageDraw.ImageDraw, element: Element, view: float, offset: float) -> None:
    color = (*(int(min(255.0, max(0.0, c))) for c in element.color), 255)
    if element.kind == "glyph":
        center = (offset + element.x * view, offset + element.y * view)
        size = max(6, int(2.6 * element.size * view))
        draw.text(center, element.glyph, fill=color, font=font(size), anchor="mm")
        return
    points = place(element, view, offset)
    width = max(1, int(element.width * view))
    if element.kind == "ring":
        draw.line([*points, points[0]], fill=color, width=width)
    elif element.kind == "stroke":
        draw.line(points[: len(points) // 2], fill=color, width=width)
    else:
        draw.polygon(points, fill=color)


def draw_parts(elements: tuple[Element, ...], image_size: int) -> Image.Image:
    """The parts, in order, on a transparent premultiplied ("RGBa") canvas."""
    canvas = Image.new("RGBA", (canvas_size(image_size),) * 2, (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    view = image_size * SUPERSAMPLE
    offset = (canvas.width - view) / 2
    for element in elements:
        draw_element(draw, element, view, offset)
    # Premultiplied, so that bilinear warping does not bleed black into edges.
    return canvas.convert("RGBa")
