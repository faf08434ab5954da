"""Per-sample random perturbations of a prototype: what makes images of one class differ.

Four stages, each standing for a source of variation in real photos: the parts move,
resize, recolor or vanish and unrelated clutter appears (pose, viewpoint, other
objects); the object is rotated, zoomed, sheared and shifted (framing); it is set on a
backdrop of its own (scene); colors, contrast and sensor noise change and a patch may
be hidden (lighting, occlusion).
Their strengths (`Strength`) set the difficulty; bench/calibrate_synth.py measures it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from irnoise.data.synthetic.draw import SUPERSAMPLE, draw_background, draw_parts
from irnoise.data.synthetic.prototypes import (
    Element,
    Prototype,
    random_background,
    random_color,
    random_element,
)


@dataclass(frozen=True)
class Strength:
    """How far a sample strays from its prototype.

    The defaults are calibrated (bench/calibrate_synth.py, docs/results.md): a small CNN reaches
    an R@1 of about 55% on the SOP-like set's unseen classes. Part jitter, clutter and
    lighting decide it: three times this part jitter with two clutter parts and
    stronger lighting changes gave 7%; 1.5 times it with that lighting gave 42%.
    """

    move: float = 0.02  # part displacement, fraction of the view
    resize: float = 0.08  # part size factor spread
    turn: float = 8.0  # part rotation, degrees
    recolor: float = 10.0  # part color shift per channel, 0-255 scale
    drop: float = 0.03  # probability that a part (not the first) is missing
    clutter: int = 0  # most unrelated parts added
    rotate: float = 15.0  # whole-image rotation, degrees
    zoom: float = 0.15  # whole-image zoom spread
    shear: float = 0.1
    shift: float = 0.08  # whole-image shift, fraction of the side
    brightness: float = 0.15
    contrast: float = 0.2
    tint: float = 0.1  # per-channel gain spread (white balance)
    noise: float = 6.0  # most Gaussian noise sigma, 0-255 scale
    occlude: float = 0.1  # probability of an occluding patch
    occlusion_size: tuple[float, float] = (0.2, 0.4)  # its side, fraction of the image


DEFAULT_STRENGTH = Strength()
NOISE_TABLE_SIZE = 1 << 20  # 4 MiB of float32; a 256-pixel RGB image takes 196,608


def perturb_element(element: Element, rng: np.random.Generator, strength: Strength) -> Element:
    move = rng.uniform(-strength.move, strength.move, size=2)
    recolor = rng.uniform(-strength.recolor, strength.recolor, size=3)
    return Element(
        kind=element.kind,
        color=tuple((np.asarray(element.color) + recolor).tolist()),
        x=element.x + move[0],
        y=element.y + move[1],
        size=element.size * (1 + rng.uniform(-strength.resize, strength.resize)),
        aspect=element.aspect,
        angle=element.angle + rng.uniform(-strength.turn, strength.turn),
        width=element.width,
        glyph=element.glyph,
    )


def perturb_parts(
    prototype: Prototype, rng: np.random.Generator, strength: Strength
) -> tuple[Element, ...]:
    """The prototype's parts, moved and recolored, some dropped, clutter added."""
    first, *rest = prototype.elements
    parts = [perturb_element(first, rng, strength)]
    # Every draw happens whether or not the part is kept, so one sample's random
    # stream does not depend on earlier choices (easier to reason about).
    for element in rest:
        moved = perturb_element(element, rng, strength)
        if rng.random() >= strength.drop:
            parts.append(moved)
    for _ in range(int(rng.integers(strength.clutter + 1))):
        parts.append(random_element(rng, (0.06, 0.14)))
    # The body stays at the back; the others are stacked anew, so which hides which varies.
    order = rng.permutation(len(parts) - 1) + 1
    return (parts[0], *(parts[i] for i in order))


def warp(
    canvas: Image.Image, image_size: int, rng: np.random.Generator, strength: Strength
) -> Image.Image:
    """Rotate, zoom, shear and shift the view, and downscale it to `image_size`."""
    theta = math.radians(rng.uniform(-strength.rotate, strength.rotate))
    zoom = 1 + rng.uniform(-strength.zoom, strength.zoom)
    shear = rng.uniform(-strength.shear, strength.shear)
    shift = rng.uniform(-strength.shift, strength.shift, size=2) * image_size * SUPERSAMPLE
    # Output pixel (u, v) -> canvas pixel: rotation and shear about the centers, and
    # SUPERSAMPLE canvas pixels per output pixel, so bilinear sampling lands between
    # 2 x 2 canvas pixels and averages them (antialiased edges at no extra cost).
    step = SUPERSAMPLE / zoom
    cos, sin = math.cos(theta) * step, math.sin(theta) * step
    a, b = cos, cos * shear - sin
    d, e = sin, sin * shear + cos
    center_in, center_out = canvas.width / 2, image_size / 2
    c = center_in + shift[0] - (a + b) * center_out
    f = center_in + shift[1] - (d + e) * center_out
    return canvas.transform(
        (image_size, image_size),
        Image.Transform.AFFINE,
        (a, b, c, d, e, f),
        Image.Resampling.BILINEAR,
    )


def composite(foreground: Image.Image, background: np.ndarray) -> np.ndarray:
    """A premultiplied RGBa foreground over a float RGB background, as float32 RGB."""
    pixels = np.asarray(foreground, dtype=np.float32)
    alpha = pixels[..., 3:] / np.float32(255.0)
    return pixels[..., :3] + background * (1 - alpha)


@functools.lru_cache(maxsize=1)
def noise_table() -> np.ndarray:
    """A fixed bank of Gaussian noise, drawn once per process from a constant seed.

    A sample's noise is a window of it at a random offset: drawing fresh Gaussian
    values for every pixel would cost more than the rest of the image together.
    """
    return np.random.default_rng(0).standard_normal(NOISE_TABLE_SIZE, dtype=np.float32)


def gaussian_noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    table, count = noise_table(), math.prod(shape)
    if count > len(table):
        return rng.standard_normal(shape, dtype=np.float32)
    start = int(rng.integers(len(table) - count + 1))
    return table[start : start + count].reshape(shape)


def photometric(pixels: np.ndarray, rng: np.random.Generator, strength: Strength) -> Image.Image:
    """Lighting, white balance, contrast, sensor noise and an occluding patch."""
    gain = (1 + rng.uniform(-strength.brightness, strength.brightness)) * (
        1 + rng.uniform(-strength.tint, strength.tint, size=3)
    )
    contrast = 1 + rng.uniform(-strength.contrast, strength.contrast)
    sigma = rng.uniform(0, strength.noise)
    # Gain, then contrast about the mean, as one affine map per channel.
    pivot = float(pixels.mean()) * float(gain.mean()) * (1 - contrast) + 0.5  # 0.5: round
    out = pixels * (gain * contrast).astype(np.float32)
    out += gaussian_noise(pixels.shape, rng) * np.float32(sigma) + np.float32(pivot)
    if rng.random() < strength.occlude:
        occlude(out, rng, strength)
    np.clip(out, 0, 255, out=out)
    return Image.fromarray(out.astype(np.uint8), "RGB")


def occlude(pixels: np.ndarray, rng: np.random.Generator, strength: Strength) -> None:
    side = pixels.shape[0]
    height, width = (rng.uniform(*strength.occlusion_size, size=2) * side).astype(int) + 1
    top, left = rng.integers(0, side - height + 1), rng.integers(0, side - width + 1)
    pixels[top : top + height, left : left + width] = random_color(rng)


def sample_image(
    prototype: Prototype,
    image_size: int,
    rng: np.random.Generator,
    strength: Strength | None = None,
) -> Image.Image:
    """One image of a prototype's class (perturbed by DEFAULT_STRENGTH unless told)."""
    strength = strength or DEFAULT_STRENGTH
    parts = perturb_parts(prototype, rng, strength)
    foreground = warp(draw_parts(parts, image_size), image_size, rng, strength)
    background = draw_background(random_background(rng), image_size)
    return photometric(composite(foreground, background), rng, strength)
