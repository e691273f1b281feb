"""`OverlayPainter`: draws a frame's `Scene` on the decoded frame, in place.

Top left, the clock: wall time, seconds since the log's start, the driven pins.
The driven electrodes outlined where they are in the picture (through the
registration), or, when the picture is not registered, a small drawing of the
board in the bottom right corner. Bottom left, the marker in force. Top right, the
active capacitance plot. What does not change between frames (the electrodes
under one registration, the inset, a marker's box, text) is drawn once and reused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..boards import Board
from .drawing import Cache, Canvas, TextMasks, even_up, frame_planes
from .overlay import OverlayReport
from .scene import CAPACITANCE_SECONDS, Registration, Scene

#: Colours (RGB) of drive groups A and B, of text, of secondary text and outlines, of the capacitance line.
GROUP_COLOURS = ((0, 230, 255), (255, 60, 220))
TEXT = (255, 255, 255)
DIM = (185, 185, 185)
PLOT_LINE = (255, 214, 0)
#: Opacity (0-255) of the boxes behind text, and of the fill inside a driven electrode.
BOX_ALPHA = 150
FILL_ALPHA = 80
#: Pins listed by number in the clock box before the list is cut short.
LISTED_PINS = 12
#: A projected point further than this many pixels from the picture: a registration not worth drawing.
FAR_PX = 100_000


class OverlayPainter:
    """Draws each frame's `Scene`; `report` counts what it could draw."""

    def __init__(self, board: Board | None, *, timezone: dt.tzinfo | None = None, capacitance: bool = False) -> None:
        self.board = board
        self.timezone = timezone or dt.timezone.utc
        self.report = OverlayReport(board=board.source if board is not None else None, capacitance=capacitance)
        self._size: tuple[int, int] | None = None
        self._electrodes = Cache(16)
        self._insets = Cache(16)
        self._markers = Cache(4)
        self._driving = Cache(16)
        self._clock_width = 0

    def _layout(self, size: tuple[int, int]) -> None:
        """Sizes from the video's frame size: text 22 px high in a 1024x768 frame."""
        self._size = size
        width, height = size
        unit = min(width / 1024, height / 768)
        self.margin = max(2, round(12 * unit)) & ~1
        self.pad = max(2, round(6 * unit))
        self.line_px = max(2, round(3 * unit))
        self.text = TextMasks(max(9, round(22 * unit)))
        self.small = TextMasks(max(8, round(16 * unit)))
        self.inset_box = (max(16, round(width * 0.3)), max(16, round(height * 0.3)))
        self.plot_box = (max(48, round(width * 0.3)), max(32, round(height * 0.18)))
        self._electrodes.clear()
        self._insets.clear()
        self._markers.clear()
        self._driving.clear()
        self._clock_width = 0

    def paint(self, frame: Any, scene: Scene, picture_size: tuple[int, int]) -> None:
        """Draw `scene` on `frame` (yuv420p, the video's size); `picture_size` is the camera picture's size as
        decoded, before it was cropped or scaled to the video's."""
        size = (frame.width, frame.height)
        if size != self._size:
            self._layout(size)
        drawings: list[Canvas | None] = [self._clock(scene)]
        if self.board is not None:
            drawings.append(self._board(scene, picture_size, size))
        if scene.marker is not None:
            drawings.append(self._marker(scene))
        if scene.capacitance is not None:
            drawings.append(self._plot(scene))
        planes = frame_planes(frame)
        for drawing in drawings:
            if drawing is not None:
                drawing.draw_on(planes)
        self.report.frames += 1

    # --- the electrodes ----------------------------------------------------------

    def _board(self, scene: Scene, picture: tuple[int, int], size: tuple[int, int]) -> Canvas | None:
        if scene.registration is not None:
            registration = scene.registration.onto(picture, size)
            key = (registration.matrix, scene.driven)
            drawing = self._electrodes.get_or_make(key, lambda: self._in_place(registration, scene.driven))
            if drawing is not False:
                self.report.in_place += 1
                return drawing  # type: ignore[return-value]
        self.report.inset += 1
        return self._insets.get_or_make(scene.driven, lambda: self._inset(scene.driven))

    def _in_place(self, registration: Registration, driven: tuple[frozenset[int], ...]) -> Canvas | bool | None:
        """The driven electrodes outlined through the registration: None when none is driven or all lie off
        the picture, False when the registration does not project them sensibly."""
        assert self.board is not None and self._size is not None
        shapes = []
        for group, pins in enumerate(driven):
            for pin in sorted(pins):
                electrode = self.board.electrodes.get(pin)
                for outline in electrode.outlines if electrode is not None else ():
                    points = registration.project(outline)
                    if points is None or any(abs(v) > FAR_PX for point in points for v in point):
                        return False
                    shapes.append((group, points))
        if not shapes:
            return None
        width, height = self._size
        reach = self.line_px + 2
        xs = [x for _, points in shapes for x, _ in points]
        ys = [y for _, points in shapes for _, y in points]
        x0, y0 = max(0, int(min(xs)) - reach) & ~1, max(0, int(min(ys)) - reach) & ~1
        x1, y1 = min(width, even_up(max(xs) + reach)), min(height, even_up(max(ys) + reach))
        if x0 >= x1 or y0 >= y1:
            return None
        canvas = Canvas(x1 - x0, y1 - y0)
        for group in range(len(driven)):
            colour = GROUP_COLOURS[group % len(GROUP_COLOURS)]
            outlines = [[(x - x0, y - y0) for x, y in points] for g, points in shapes if g == group]
            if not outlines:
                continue
            fill, line = canvas.layer(colour), canvas.layer(colour)
            for points in outlines:
                fill.polygon(points, fill=FILL_ALPHA)
                line.polygon(points, outline=255, width=self.line_px)
        return canvas.place(x0, y0)

    def _inset(self, driven: tuple[frozenset[int], ...]) -> Canvas:
        """A small drawing of the whole board in the bottom right corner, the driven electrodes filled."""
        assert self.board is not None and self._size is not None
        extent = self.board.extent
        caption = self.small.mask("board not located in the picture")
        top = self.small.line_height + self.pad
        box_w, box_h = self.inset_box
        span_w, span_h = max(extent.width, 1e-9), max(extent.height, 1e-9)
        scale = min((box_w - 2 * self.pad) / span_w, (box_h - top - 2 * self.pad) / span_h)
        canvas = Canvas(
            max(span_w * scale, caption.shape[1]) + 2 * self.pad, span_h * scale + top + 2 * self.pad, alpha=BOX_ALPHA
        )
        left = (canvas.width - span_w * scale) / 2

        def place(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
            return [(left + (x - extent.min_x) * scale, top + self.pad + (y - extent.min_y) * scale) for x, y in points]

        group_of = {pin: g for g, pins in enumerate(driven) for pin in pins}
        idle = canvas.layer(DIM)
        inks = [canvas.layer(GROUP_COLOURS[g % len(GROUP_COLOURS)]) for g in range(len(driven))]
        for pin, electrode in self.board.electrodes.items():
            group = group_of.get(pin)
            for outline in electrode.outlines:
                if group is None:
                    idle.polygon(place(outline), outline=200)
                else:
                    inks[group].polygon(place(outline), fill=230, outline=255)
        canvas.text(self.pad, self.pad // 2, caption, DIM)
        width, height = self._size
        return canvas.place(width - canvas.width - self.margin, height - canvas.height - self.margin)

    # --- text --------------------------------------------------------------------

    def _clock(self, scene: Scene) -> Canvas:
        when = dt.datetime.fromtimestamp(scene.t_ns // 1_000_000_000, self.timezone)
        millis = scene.t_ns % 1_000_000_000 // 1_000_000
        zone = when.strftime("%Z") or when.strftime("%z")
        lines = [f"{when:%Y-%m-%d %H:%M:%S}.{millis:03d} {zone}"]
        if scene.seconds is not None:
            lines.append(f"+{scene.seconds:.3f} s since the start")
        key = (scene.driven, scene.known_state, scene.capacitance is not None)
        lines.append(self._driving.get_or_make(key, lambda: self._driving_line(scene)))
        masks = [self.text.mask(line) for line in lines]
        # The box only grows, so it does not flicker as the digits change width.
        self._clock_width = max(self._clock_width, max(m.shape[1] for m in masks) + 2 * self.pad)
        canvas = Canvas(self._clock_width, len(lines) * self.text.line_height + 2 * self.pad, alpha=BOX_ALPHA)
        for i, mask in enumerate(masks):
            canvas.text(self.pad, self.pad + i * self.text.line_height, mask, TEXT)
        return canvas.place(self.margin, self.margin)

    def _driving_line(self, scene: Scene) -> str:
        """The driven pins, naming fewer of them until the line fits beside the plot."""
        assert self._size is not None
        room = self._size[0] - 2 * self.margin - 2 * self.pad - 2
        if scene.capacitance is not None:
            room -= self.plot_box[0] + self.margin
        for listed in (LISTED_PINS, 6, 3, 1, 0):
            line = _driving(scene, listed)
            if self.text.width(line) <= room:
                return line
        return self.text.fit(line, room)

    def _marker(self, scene: Scene) -> Canvas:
        marker = scene.marker
        assert marker is not None and self._size is not None
        origin = scene.origin_ns

        def make() -> Canvas:
            assert marker is not None and self._size is not None
            at = f" +{(marker.time_ns - origin) / 1e9:.1f} s" if origin is not None else ""
            text = self.text.fit(f"marker{at}: {marker.text}", self._room())
            width, height = self.text.width(text) + 2 * self.pad + 2, self.text.line_height + 2 * self.pad
            canvas = Canvas(width, height, alpha=BOX_ALPHA)
            canvas.text(self.pad, self.pad, self.text.mask(text), TEXT)
            return canvas.place(self.margin, self._size[1] - self.margin - canvas.height)

        return self._markers.get_or_make((marker.time_ns, marker.text, origin), make)

    def _room(self) -> int:
        """The width a line of text may take at the bottom, beside the margins and the inset's corner."""
        assert self._size is not None
        room = self._size[0] - 2 * self.margin - 2 * self.pad - 2
        return room - (self.inset_box[0] + self.margin if self.board is not None else 0)

    # --- the plot ----------------------------------------------------------------

    def _plot(self, scene: Scene) -> Canvas:
        """Active capacitance over the last seconds, with its latest value, in the top right corner."""
        assert scene.capacitance is not None and self._size is not None
        points = scene.capacitance
        canvas = Canvas(*self.plot_box, alpha=BOX_ALPHA)
        title = "active capacitance"
        if points:
            title += f" {points[-1][1]:.4g}"
        canvas.text(self.pad, self.pad // 2, self.small.mask(f"{title}  ({CAPACITANCE_SECONDS:g} s)"), TEXT)
        top = self.small.line_height + self.pad
        bottom = canvas.height - self.pad
        left = self.pad + self.small.width("-0.0000") + self.pad
        right = canvas.width - self.pad
        if points:
            samples = np.array(points, float)
            lo, hi = float(samples[:, 1].min()), float(samples[:, 1].max())
            if hi - lo < 1e-9:
                lo, hi = lo - 0.5, hi + 0.5
            span_ns = CAPACITANCE_SECONDS * 1e9
            xs = left + (samples[:, 0] - (scene.t_ns - span_ns)) * ((right - left) / span_ns)
            ys = bottom - (samples[:, 1] - lo) * ((bottom - top) / (hi - lo))
            canvas.trace(xs, ys, PLOT_LINE, width=max(1, self.line_px - 1))
            labels = left - self.pad
            canvas.text(labels, top - self.small.line_height // 3, self.small.mask(f"{hi:.4g}"), DIM, right=True)
            canvas.text(labels, bottom - self.small.line_height, self.small.mask(f"{lo:.4g}"), DIM, right=True)
        return canvas.place(self._size[0] - canvas.width - self.margin, self.margin)


def _driving(scene: Scene, listed: int = LISTED_PINS) -> str:
    """The driven pins by drive group, as in "driving A: 12, 13  B: 40", at most `listed` named per group."""
    if not scene.known_state:
        return "driving: not known yet"
    parts = []
    for name, pins in zip("AB", scene.driven, strict=False):
        if pins:
            named = ", ".join(str(p) for p in sorted(pins)[:listed])
            more = f"{', ' if named else ''}… ({len(pins)})" if len(pins) > listed else ""
            parts.append(f"{name}: {named}{more}")
    return "driving " + "  ".join(parts) if parts else "driving: none"
