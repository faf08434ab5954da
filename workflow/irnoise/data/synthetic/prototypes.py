"""Per-class random prototypes: a few colored shapes, strokes and glyphs.

A class of a synthetic dataset is one prototype; its images are random perturbations of
it (`irnoise.data.synthetic.perturb`). A prototype is a parametric description rather than a
picture so that a sample can move, resize and recolor each part on its own, which is
what makes two photos of one product (or one face) differ in more than a global warp.
The background is not part of it: every image gets its own (see `perturb`), so that a
class is recognised by its object and not by a backdrop that pixels alone would match.

Coordinates are fractions of the view (0..1, center 0.5); sizes are radii as fractions
of the view's side; colors are RGB on the 0-255 scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("ellipse", "rectangle", "triangle", "star", "ring", "stroke", "glyph")
BACKGROUNDS = ("plain", "gradient", "stripes", "checker")
# Latin, Greek and Cyrillic letters, digits and symbols, all in DejaVu Sans: 134 distinct
# silhouettes, more varied than random polygons at 48 pixels.
GLYPHS = (
    "ABCDEFGHJKLMNPQRSTUVWXYZabdefghkmnqrtuy23456789"
    "ΓΔΘΛΞΠΣΦΨΩαβγδζθλξπσφψω"
    "БГДЖЗИЛПФЦЧШЩЫЭЮЯбгджлфцшщэюя"
    "@#&%§¶?!$€£¥♠♣♥♦♪☼✓✗∞≈≠∑∫√←→↑↓◆●▲■★"
)
PARTS = (3, 5)  # fewest and most parts of a prototype
OBJECT_SIZE = (0.22, 0.32)  # the first part is large: the object's body
PART_SIZE = (0.08, 0.2)

Color = tuple[float, float, float]


@dataclass(frozen=True)
class Element:
    """One colored part (of a prototype, or clutter added to a sample)."""

    kind: str
    color: Color
    x: float
    y: float
    size: float
    aspect: float
    angle: float
    width: float
    glyph: str


@dataclass(frozen=True)
class Prototype:
    elements: tuple[Element, ...]


@dataclass(frozen=True)
class Background:
    kind: str
    color_a: Color
    color_b: Color
    angle: float
    frequency: float
    phase: float


def hsv_to_rgb(h: float, s: float, v: float) -> Color:
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (r * 255.0, g * 255.0, b * 255.0)


def random_color(rng: np.random.Generator, saturation: tuple[float, float] = (0.3, 1.0)) -> Color:
    # Any hue with varied saturation and lightness: color carries class identity, but
    # classes are many more than distinguishable colors, so shape must matter too.
    return hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(0.25, 1.0))


def random_element(rng: np.random.Generator, size: tuple[float, float]) -> Element:
    return Element(
        kind=KINDS[rng.integers(len(KINDS))],
        color=random_color(rng),
        x=rng.uniform(0.25, 0.75),
        y=rng.uniform(0.25, 0.75),
        size=rng.uniform(*size),
        aspect=rng.uniform(0.5, 1.0),
        angle=rng.uniform(0.0, 360.0),
        width=rng.uniform(0.04, 0.1),
        glyph=GLYPHS[rng.integers(len(GLYPHS))],
    )


def random_prototype(rng: np.random.Generator) -> Prototype:
    """A large part (the object's body) and two to four smaller ones."""
    count = int(rng.integers(PARTS[0], PARTS[1] + 1))
    elements = [random_element(rng, OBJECT_SIZE)]
    elements += [random_element(rng, PART_SIZE) for _ in range(count - 1)]
    return Prototype(tuple(elements))


def random_background(rng: np.random.Generator) -> Background:
    """A backdrop: plain, a gradient, stripes or a checkerboard, in muted colors."""
    return Background(
        kind=BACKGROUNDS[rng.integers(len(BACKGROUNDS))],
        color_a=random_color(rng, (0.0, 0.6)),
        color_b=random_color(rng, (0.0, 0.6)),
        angle=rng.uniform(0.0, math.pi),
        frequency=rng.uniform(1.5, 5.0),
        phase=rng.uniform(0.0, 2 * math.pi),
    )
