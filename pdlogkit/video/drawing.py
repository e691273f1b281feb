"""Drawing primitives for the overlay: Pillow rasterises, numpy lays the result on yuv420p frames in place.

A `Canvas` is a small box (a colour, mostly see-through) with ink on it: layers
that Pillow draws (polygons, outlines) as greyscale masks, each in one colour;
text set from glyph masks (`TextMasks`); lines traced straight into a mask
(`Canvas.trace`). `Canvas.draw_on` lays the box, then the layers, then the text and
lines, in BT.601 limited-range Y'CbCr (the video frames' matrix and range, see
encoder.py) on the frame's planes, so a frame never goes through RGB; a chroma
sample takes the opacity of its 2x2 pixels, averaged.
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


def _quarter(mask: np.ndarray) -> np.ndarray:
    """A 0-255 mask (even sizes) as 0-1 opacities at the chroma planes' resolution: each 2x2 block's mean."""
    wide = mask.astype(np.uint16)
    total = wide[0::2, 0::2] + wide[1::2, 0::2] + wide[0::2, 1::2] + wide[1::2, 1::2]
    return total * np.float32(1 / 1020)  # type: ignore[no-any-return]


def frame_planes(frame: Any) -> Planes:
    """Writable numpy views of a yuv420p VideoFrame's planes (Y full size, U and V half size)."""
    views = []
    for plane in frame.planes:
        data = np.frombuffer(plane, np.uint8)
        views.append(data[: plane.line_size * plane.height].reshape(plane.height, plane.line_size)[:, : plane.width])
    return views[0], views[1], views[2]


class _Ink:
    """One layer ready to lay on frames: the pixels it touches (luma, and chroma at half resolution), how
    opaque it is at each, and its colour."""

    def __init__(self, colour: RGB, rows: np.ndarray, cols: np.ndarray, opacity: np.ndarray, quarter: Any) -> None:
        self.rows, self.cols, self.opacity = rows, cols, opacity
        self.rows_c, self.cols_c, self.opacity_c = quarter
        self.colour = ycbcr(colour)
        self.reach = (2 * (int(self.cols_c.max(initial=0)) + 1), 2 * (int(self.rows_c.max(initial=0)) + 1))

    @classmethod
    def from_mask(cls, mask: np.ndarray, colour: RGB) -> _Ink:
        """The ink of a 0-255 mask (even sizes)."""
        rows, cols = np.nonzero(mask)
        quarter = _quarter(mask)
        rows_c, cols_c = np.nonzero(quarter)
        opacity = mask[rows, cols] * np.float32(1 / 255)
        return cls(colour, rows, cols, opacity, (rows_c, cols_c, quarter[rows_c, cols_c]))

    def lay(self, planes: Planes, x: int, y: int) -> None:
        height, width = planes[0].shape
        whole = x >= 0 and y >= 0 and x + self.reach[0] <= width and y + self.reach[1] <= height
        for plane, value, rows, cols, opacity in (
            (planes[0], self.colour[0], self.rows + y, self.cols + x, self.opacity),
            (planes[1], self.colour[1], self.rows_c + y // 2, self.cols_c + x // 2, self.opacity_c),
            (planes[2], self.colour[2], self.rows_c + y // 2, self.cols_c + x // 2, self.opacity_c),
        ):
            if not whole:  # partly off the frame: keep what is on it
                inside = (rows >= 0) & (cols >= 0) & (rows < plane.shape[0]) & (cols < plane.shape[1])
                rows, cols, opacity = rows[inside], cols[inside], opacity[inside]
            old = plane[rows, cols]
            plane[rows, cols] = old + (value - old) * opacity + 0.5


def _text(planes: Planes, x: int, y: int, mask: np.ndarray, colour: tuple[float, float, float]) -> None:
    """Lay a text mask at (x, y) over its rectangle. Text in a grey (white on a dark box, as the overlay
    writes it) changes the luma only: its strokes are a pixel or two wide, narrower than a chroma sample."""
    height, width = planes[0].shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + mask.shape[1], width), min(y + mask.shape[0], height)
    if x0 >= x1 or y0 >= y1:
        return
    m = mask[y0 - y : y1 - y, x0 - x : x1 - x] * np.float32(1 / 255)
    region = planes[0][y0:y1, x0:x1]
    region[...] = region + (colour[0] - region) * m + 0.5
    if abs(colour[1] - 128) > 1 or abs(colour[2] - 128) > 1:  # a coloured text: chroma too
        cx0, cy0 = x0 & ~1, y0 & ~1
        padded = np.zeros((even_up(y1 - cy0), even_up(x1 - cx0)), np.uint8)
        padded[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = mask[y0 - y : y1 - y, x0 - x : x1 - x]
        quarter = _quarter(padded)
        for plane, value in ((planes[1], colour[1]), (planes[2], colour[2])):
            region = plane[cy0 // 2 : cy0 // 2 + quarter.shape[0], cx0 // 2 : cx0 // 2 + quarter.shape[1]]
            region[...] = region + (value - region) * quarter[: region.shape[0], : region.shape[1]] + 0.5


class Canvas:
    """A box `width` x `height` (made even) of `colour` at opacity `alpha` (0-255), with layers of ink.

    `draw_on` lays it on a frame: the box in 16-bit integer arithmetic over its
    pixels, then each layer over the pixels it touches only, then the text. What a layer touches is
    worked out on the first draw, so a canvas kept for many frames costs little more
    than those pixels.
    """

    def __init__(self, width: float, height: float, colour: RGB = (0, 0, 0), alpha: int = 0) -> None:
        self.width, self.height = even_up(width), even_up(height)
        self._colour = colour
        self._alpha = alpha
        self._layers: list[tuple[Image.Image, RGB]] = []
        self._texts: list[tuple[int, int, np.ndarray, tuple[float, float, float]]] = []
        self._inks: list[_Ink] | None = None
        self._box: tuple[int, list[int]] | None = None
        self.x = self.y = 0

    def layer(self, colour: RGB) -> ImageDraw.ImageDraw:
        """A new layer of ink of `colour`: draw on it with intensity 0-255 as opacity."""
        mask = Image.new("L", (self.width, self.height), 0)
        self._layers.append((mask, colour))
        return ImageDraw.Draw(mask)

    def text(self, x: int, y: int, mask: np.ndarray, colour: RGB, *, right: bool = False) -> None:
        """Ink a prepared text mask (`TextMasks`) with its top left (or, `right`, top right) corner at (x, y),
        clipped to the box. Text is laid after the layers."""
        h, w = mask.shape
        if right:
            x -= w
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(self.width, x + w), min(self.height, y + h)
        if x0 < x1 and y0 < y1:
            self._texts.append((x0, y0, mask[y0 - y : y1 - y, x0 - x : x1 - x], ycbcr(colour)))

    def trace(self, xs: np.ndarray, ys: np.ndarray, colour: RGB, width: int = 2) -> None:
        """A line through the points (x increasing), `width` pixels wide, drawn without Pillow: in each pixel
        column it covers the rows between where the line enters and leaves the column and every point in
        it, so thousands of points cost no more than the columns they span."""
        if len(xs) == 0:
            return
        first, last = max(0, int(np.floor(xs[0]))), min(self.width - width, int(np.floor(xs[-1])))
        if first > last:
            return
        columns = np.arange(first, last + 1)
        enter, leave = np.interp(columns, xs, ys), np.interp(columns + 1, xs, ys)
        low, high = np.minimum(enter, leave), np.maximum(enter, leave)
        inside = (xs >= first) & (xs < last + 1)
        at = np.floor(xs[inside]).astype(int) - first
        np.minimum.at(low, at, ys[inside])
        np.maximum.at(high, at, ys[inside])
        top = int(np.clip(np.floor(low.min()), 0, self.height - 1))
        low = np.clip(np.floor(low), 0, self.height - 1).astype(int) - top
        high = np.clip(np.ceil(high) + width - 1, 0, self.height - 1).astype(int) - top
        # Each column's run of rows, as +1 where it starts and -1 past its end, summed down the column.
        edges = np.zeros((int(high.max()) + 2, len(columns) + width - 1), np.int16)
        for k in range(width):
            np.add.at(edges, (low, np.arange(len(columns)) + k), 1)
            np.add.at(edges, (high + 1, np.arange(len(columns)) + k), -1)
        mask = np.where(np.cumsum(edges, axis=0)[:-1] > 0, np.uint8(255), np.uint8(0))
        self._texts.append((first, top, mask, ycbcr(colour)))

    def place(self, x: int, y: int) -> Canvas:
        """Put the canvas's top left corner at (x, y) of the frame (made even, for the chroma planes)."""
        self.x, self.y = x & ~1, y & ~1
        return self

    def draw_on(self, planes: Planes) -> None:
        """Lay the canvas on a frame's (Y, U, V) planes where it is placed."""
        x, y = self.x, self.y
        if self._inks is None:
            self._inks = [_Ink.from_mask(np.asarray(layer), colour) for layer, colour in self._layers]
            self._layers = []  # kept as inks from now on
            if self._alpha:
                # In 1/256ths, in 16-bit integers: (pixel * (256 - a) + colour * a + 128) >> 8.
                a = round(self._alpha * 256 / 255)
                self._box = (256 - a, [round(v * a) + 128 for v in ycbcr(self._colour)])
        if self._box is not None:
            keep, adds = self._box
            height, width = planes[0].shape
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + self.width, width), min(y + self.height, height)
            if x0 < x1 and y0 < y1:
                regions = (planes[0][y0:y1, x0:x1], *(p[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2] for p in planes[1:]))
                for region, add in zip(regions, adds, strict=True):
                    wide = region.astype(np.uint16)
                    wide *= keep
                    wide += add
                    wide >>= 8
                    region[...] = wide
        for ink in self._inks:
            ink.lay(planes, x, y)
        for tx, ty, mask, colour in self._texts:
            _text(planes, x + tx, y + ty, mask, colour)


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
