"""Drawing primitives for the overlay: Pillow rasterises, numpy blends into yuv420p frames in place.

A `Canvas` is a small box (a colour, mostly see-through) with layers of ink on it:
each layer is a Pillow greyscale mask (text, lines, polygons) painted in one colour.
`Canvas.patch` composites the layers, premultiplied, straight into BT.601
limited-range Y'CbCr (the video frames' matrix and range, see encoder.py), so a
frame never goes through RGB; `Patch.blend` lays that onto a frame's planes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]
Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
V = TypeVar("V")

# BT.601 limited range: Y'CbCr from R'G'B' in 0-255.
_Y = (0.256788, 0.504129, 0.097906)
_CB = (-0.148223, -0.290993, 0.439216)
_CR = (0.439216, -0.367788, -0.071427)


def ycbcr(rgb: RGB) -> tuple[float, float, float]:
    """A colour's (Y, Cb, Cr) in the frames' BT.601 limited range."""
    r, g, b = rgb
    return (
        16 + _Y[0] * r + _Y[1] * g + _Y[2] * b,
        128 + _CB[0] * r + _CB[1] * g + _CB[2] * b,
        128 + _CR[0] * r + _CR[1] * g + _CR[2] * b,
    )


def even_up(n: float) -> int:
    """The smallest even integer >= n (for n >= 0)."""
    return (int(np.ceil(n)) + 1) & ~1


def _quarter(values: np.ndarray) -> np.ndarray:
    """The mean of each 2x2 block (sizes even): full resolution to the chroma planes'."""
    return (values[0::2, 0::2] + values[1::2, 0::2] + values[0::2, 1::2] + values[1::2, 1::2]) * 0.25  # type: ignore[no-any-return]


class Patch:
    """A drawing ready to blend into yuv420p planes at (x, y): how much of the frame it keeps and what it
    adds (premultiplied), at full resolution for luma and half for chroma. Position and size are even."""

    def __init__(self, x: int, y: int, alpha: np.ndarray, luma: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> None:
        h, w = alpha.shape
        assert x % 2 == 0 and y % 2 == 0 and w % 2 == 0 and h % 2 == 0
        self.x, self.y, self.w, self.h = x, y, w, h
        self.keep = 1 - alpha
        self.luma = luma + 0.5  # + 0.5: rounds when cast back to bytes
        self.keep_c = 1 - _quarter(alpha)
        self.cb = _quarter(cb) + 0.5
        self.cr = _quarter(cr) + 0.5

    def blend(self, planes: Planes) -> None:
        """Lay the patch over the frame's (Y, U, V) planes, clipped to the frame."""
        height, width = planes[0].shape
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.x + self.w, width), min(self.y + self.h, height)
        if x0 >= x1 or y0 >= y1:
            return
        px, py = x0 - self.x, y0 - self.y
        rows, cols = slice(py, py + y1 - y0), slice(px, px + x1 - x0)
        region = planes[0][y0:y1, x0:x1]
        region[...] = region * self.keep[rows, cols] + self.luma[rows, cols]
        rows, cols = slice(py // 2, (py + y1 - y0) // 2), slice(px // 2, (px + x1 - x0) // 2)
        keep = self.keep_c[rows, cols]
        for plane, add in ((planes[1], self.cb), (planes[2], self.cr)):
            region = plane[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2]
            region[...] = region * keep + add[rows, cols]


def frame_planes(frame: Any) -> Planes:
    """Writable numpy views of a yuv420p VideoFrame's planes (Y full size, U and V half size)."""
    views = []
    for plane in frame.planes:
        data = np.frombuffer(plane, np.uint8)
        views.append(data[: plane.line_size * plane.height].reshape(plane.height, plane.line_size)[:, : plane.width])
    return views[0], views[1], views[2]


class Canvas:
    """A box `width` x `height` (made even) of `colour` at opacity `alpha` (0-255), with layers of ink."""

    def __init__(self, width: float, height: float, colour: RGB = (0, 0, 0), alpha: int = 0) -> None:
        self.width, self.height = even_up(width), even_up(height)
        self._colour = colour
        self._alpha = alpha
        self._layers: list[tuple[Image.Image | np.ndarray, RGB]] = []

    def layer(self, colour: RGB) -> ImageDraw.ImageDraw:
        """A new layer of ink of `colour`: draw on it with intensity 0-255 as opacity."""
        mask = Image.new("L", (self.width, self.height), 0)
        self._layers.append((mask, colour))
        return ImageDraw.Draw(mask)

    def text(self, x: int, y: int, mask: np.ndarray, colour: RGB, *, right: bool = False) -> None:
        """Ink a prepared text mask (`TextMasks`) with its top left (or, `right`, top right) corner at (x, y),
        clipped to the box. Texts of one colour in a row share a layer."""
        h, w = mask.shape
        if right:
            x -= w
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x0 >= x1 or y0 >= y1:
            return
        last = self._layers[-1] if self._layers else None
        if last is not None and isinstance(last[0], np.ndarray) and last[1] == colour:
            ink = last[0]
        else:
            ink = np.zeros((self.height, self.width), np.uint8)
            self._layers.append((ink, colour))
        target = ink[y0:y1, x0:x1]
        np.maximum(target, mask[y0 - y : y1 - y, x0 - x : x1 - x], out=target)

    def patch(self, x: int, y: int) -> Patch:
        """The canvas composited (each layer over the ones before) as a `Patch` to blend at (x & ~1, y & ~1)."""
        shape = (self.height, self.width)
        a0 = self._alpha / 255
        y_, cb, cr = ycbcr(self._colour)
        alpha = np.full(shape, a0, np.float32)
        luma, blue, red = (np.full(shape, v * a0, np.float32) for v in (y_, cb, cr))
        for layer, colour in self._layers:
            m = np.asarray(layer, np.float32) * (1 / 255)
            keep = 1 - m
            for plane, value in zip((luma, blue, red), ycbcr(colour), strict=True):
                plane *= keep
                plane += value * m
            alpha *= keep
            alpha += m
        return Patch(x & ~1, y & ~1, alpha, luma, blue, red)


class TextMasks:
    """Text as greyscale masks one line high, in Pillow's own font (Aileron, scalable where Pillow has
    FreeType, as its wheels do). Each character is rendered once and strings are set from those glyphs
    (without kerning), so a clock that changes every frame costs no font rendering."""

    def __init__(self, size: int, keep: int = 64) -> None:
        self.font = ImageFont.load_default(size=size)
        _, top, _, bottom = self.font.getbbox("Hgÿ|0")
        #: The height of a line of text, with a little leading.
        self.line_height = int(bottom + max(2, (bottom - top) // 4))
        self._glyphs: dict[str, tuple[np.ndarray, float]] = {}
        self._strings: OrderedDict[str, np.ndarray] = OrderedDict()
        self._keep = keep

    def _glyph(self, char: str) -> tuple[np.ndarray, float]:
        """A character's mask (with room for what overhangs its advance) and its advance in pixels."""
        found = self._glyphs.get(char)
        if found is None:
            advance = self.font.getlength(char)
            _, _, right, _ = self.font.getbbox(char)
            image = Image.new("L", (max(1, int(np.ceil(max(advance, right))) + 2), self.line_height), 0)
            ImageDraw.Draw(image).text((0, 0), char, font=self.font, fill=255)
            found = self._glyphs[char] = (np.asarray(image), advance)
        return found

    def width(self, text: str) -> int:
        """The width of `text` in pixels."""
        return int(np.ceil(sum(self._glyph(c)[1] for c in text)))

    def mask(self, text: str) -> np.ndarray:
        """`text` as a mask one line high."""
        found = self._strings.get(text)
        if found is not None:
            self._strings.move_to_end(text)
            return found
        glyphs = [self._glyph(c) for c in text]
        starts, x = [], 0.0
        for _, advance in glyphs:
            starts.append(round(x))
            x += advance
        width = max([self.width(text) + 2, *(at + g.shape[1] for at, (g, _) in zip(starts, glyphs, strict=True))])
        mask = np.zeros((self.line_height, width), np.uint8)
        for at, (glyph, _) in zip(starts, glyphs, strict=True):
            target = mask[:, at : at + glyph.shape[1]]
            np.maximum(target, glyph, out=target)
        self._strings[text] = mask
        if len(self._strings) > self._keep:
            self._strings.popitem(last=False)
        return mask

    def fit(self, text: str, room: int) -> str:
        """`text`, cut short with an ellipsis to fit `room` pixels."""
        if self.width(text) <= room:
            return text
        while text and self.width(text + "…") > room:
            text = text[:-1]
        return text + "…"


class Cache(OrderedDict[Hashable, Any]):
    """A small least-recently-used cache: `get_or_make(key, make)`."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        if key in self:
            self.move_to_end(key)
            return self[key]  # type: ignore[no-any-return]
        value = self[key] = make()
        if len(self) > self._size:
            self.popitem(last=False)
        return value
