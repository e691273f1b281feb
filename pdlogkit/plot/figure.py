"""Drawing the timeline figure with matplotlib (the Agg renderer: no display needed, no pyplot state).

One figure, a panel per kind the window holds, stacked on one time axis: the
electrode activations as a raster, scan capacitance as a heatmap (electrode by
time), active and group capacitance as lines, the high voltage with its target,
the temperatures with the heaters' duty cycles. Markers are labelled vertical
lines across every panel; the periods of activity (as `pdlogkit activity` finds them)
and recording gaps are shaded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..activity import POST_ROLL, PRE_ROLL
from ..errors import PlotError
from . import PANEL_NAMES, PLOT_KINDS
from .data import Series, TimelineData

#: Colours of drive groups A and B (as in the video overlay), of markers and of gaps.
GROUP_COLOURS = ("#00a5c8", "#d63cb4")
MARKER_COLOUR = "#b2182b"
GAP_COLOUR = "#bdbdbd"
ACTIVITY_COLOUR = "#74c476"
ACTIVITY_ALPHA = 0.18
#: Time bins of the scan capacitance heatmap at most (about one per pixel column of a default figure).
HEATMAP_BINS = 1500
#: Marker labels are cut to this many characters.
MARKER_LABEL = 40
#: Inches of figure height per unit of panel height, and for the title and time axis.
PANEL_INCHES = 1.0
FRAME_INCHES = 1.3


@dataclass(frozen=True)
class Panel:
    """A panel of the figure: its name (the Axes' label), the kind it shows, its relative height, its drawing."""

    name: str
    kind: str
    height: float
    draw: Callable[[Axes, TimelineData, Callable[[np.ndarray], np.ndarray]], None]


def draw_timeline(
    data: TimelineData,
    *,
    clock: bool = False,
    timezone: dt.tzinfo | None = None,
    width: float = 12.0,
    height: float | None = None,
    dpi: float = 100.0,
) -> Figure:
    """The figure of `data`: panels for the kinds it holds, x in seconds since the start or (`clock`) wall time."""
    panels = [p for p in PANELS if p.kind in data.kinds]
    if not panels:
        raise PlotError(f"{data.name}: nothing to plot, the window holds none of the kinds the figure shows")
    zone = timezone or dt.timezone.utc
    origin_days = 0.0
    if clock:
        if data.origin_ns is None:
            raise PlotError(f"{data.name}: the log holds no times, so there is no wall clock to show")
        origin_days = mdates.date2num(dt.datetime.fromtimestamp(data.origin_ns / 1e9, dt.timezone.utc))

    def x(seconds: np.ndarray) -> np.ndarray:
        return origin_days + np.asarray(seconds, float) / 86_400 if clock else np.asarray(seconds, float)

    total = sum(p.height for p in panels)
    figure = Figure(figsize=(width, height or FRAME_INCHES + total * PANEL_INCHES), dpi=dpi, layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False, height_ratios=[p.height for p in panels])[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        ax.set_label(panel.name)
        panel.draw(ax, data, x)
        ax.yaxis.label.set_fontsize("small")
        ax.tick_params(labelsize="small")
        ax.text(
            0.004,
            0.96,
            panel.name,
            transform=ax.transAxes,
            va="top",
            fontsize="small",
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.75},
            zorder=7,
        )
        _gaps_and_markers(ax, data, x, label=ax is axes[0])
    axes[0].set_xlim(*x(np.array(data.span)))
    if clock:
        locator = mdates.AutoDateLocator(tz=zone)
        axes[-1].xaxis.set_major_locator(locator)
        axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone))
        axes[-1].set_xlabel(f"time ({_zone_name(zone, data.origin_ns)})")
    else:
        axes[-1].set_xlabel("seconds since the start")
    figure.suptitle(_title(data, zone))
    shading = []
    if any(_overlaps(p, data.span) for p in data.activity):
        label = f"activity ({PRE_ROLL:g} s before an electrode move or marker to {POST_ROLL:g} s after)"
        shading.append(Patch(facecolor=ACTIVITY_COLOUR, alpha=ACTIVITY_ALPHA, label=label))
    if any(_overlaps(g, data.span) for g in data.gaps):
        shading.append(Patch(facecolor=GAP_COLOUR, hatch="//", alpha=0.5, label="recording gap"))
    if shading:
        figure.legend(handles=shading, loc="outside lower right", fontsize="small", ncols=len(shading))
    return figure


def _overlaps(interval: tuple[float, float], span: tuple[float, float]) -> bool:
    return interval[0] < span[1] and interval[1] > span[0]


def _zone_name(zone: dt.tzinfo, origin_ns: int | None) -> str:
    when = dt.datetime.fromtimestamp((origin_ns or 0) / 1e9, zone)
    return when.strftime("%Z") or when.strftime("UTC%z")


def _title(data: TimelineData, zone: dt.tzinfo) -> str:
    name = data.name.rsplit("/", 1)[-1]
    if data.origin_ns is None:
        return name
    start = dt.datetime.fromtimestamp(data.origin_ns / 1e9, zone)
    title = f"{name}: started {start:%Y-%m-%d %H:%M:%S} {_zone_name(zone, data.origin_ns)}, {_duration(data.duration)}"
    lo, hi = data.span
    if abs(lo) > 1e-9 or abs(hi - data.duration) > 1e-9:
        title += f" (showing {lo:g} s to {hi:g} s)"
    return title


def _duration(seconds: float) -> str:
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    clock = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    return f"lasting {clock} ({seconds:.1f} s)"


def _gaps_and_markers(ax: Axes, data: TimelineData, x: Callable[[np.ndarray], np.ndarray], *, label: bool) -> None:
    for a, b in data.activity:
        if _overlaps((a, b), data.span):
            ax.axvspan(*x(np.array([a, b])), facecolor=ACTIVITY_COLOUR, alpha=ACTIVITY_ALPHA, lw=0, zorder=0).set_gid(
                "activity"
            )
    for a, b in data.gaps:
        if _overlaps((a, b), data.span):
            span = ax.axvspan(*x(np.array([a, b])), facecolor=GAP_COLOUR, alpha=0.5, hatch="//", lw=0, zorder=0)
            span.set_gid("gap")
    for t, text in data.markers:
        [at] = x(np.array([t]))
        line = ax.axvline(at, color=MARKER_COLOUR, lw=1.0, ls="--", zorder=5)
        line.set_gid("marker")
        if label:
            note = ax.annotate(
                text if len(text) <= MARKER_LABEL else text[: MARKER_LABEL - 1] + "…",
                xy=(at, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2),
                textcoords="offset points",
                rotation=90,
                ha="left",
                va="top",
                fontsize="small",
                color=MARKER_COLOUR,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
                gid="marker label",
                zorder=6,
                annotation_clip=False,
            )
            note.set_in_layout(False)  # a long label must not squeeze the panels


# --- the panels --------------------------------------------------------------------


def _electrodes(ax: Axes, data: TimelineData, x: Callable[[np.ndarray], np.ndarray]) -> None:
    """A bar per drive interval: electrode number by time, coloured by drive group."""
    act = data.activations
    assert act is not None
    handles = []
    for group in sorted(set(act.group.tolist())):
        chosen = act.group == group
        starts, ends, pins = x(act.start[chosen]), x(act.end[chosen]), act.pin[chosen]
        bars = np.stack(
            [
                np.stack([starts, pins - 0.4], axis=1),
                np.stack([ends, pins - 0.4], axis=1),
                np.stack([ends, pins + 0.4], axis=1),
                np.stack([starts, pins + 0.4], axis=1),
            ],
            axis=1,
        )
        colour = GROUP_COLOURS[group % len(GROUP_COLOURS)]
        collection = PolyCollection(list(bars), facecolors=colour, edgecolors=colour, linewidths=0.3)
        collection.set_gid(f"drive group {'AB'[group] if group < 2 else group}")
        ax.add_collection(collection)
        handles.append(Patch(color=colour, label=f"drive group {'AB'[group] if group < 2 else group}"))
    ax.set_ylim(int(act.pin.max()) + 1.5, int(act.pin.min()) - 1.5)
    ax.set_ylabel("electrode")
    ax.legend(handles=handles, loc="upper right", fontsize="x-small")


def _binned(series: Series, span: tuple[float, float], bins: int) -> tuple[np.ndarray, tuple[float, float]]:
    """The series' rows averaged in `bins` equal time bins over `span` (NaN where a bin holds none)."""
    lo, hi = span
    if hi <= lo:
        hi = lo + 1e-3
    bins = max(1, min(bins, len(series)))
    index = np.clip(((series.t - lo) / (hi - lo) * bins).astype(int), 0, bins - 1)
    sums = np.zeros((bins, series.values.shape[1]))
    counts = np.zeros(bins)
    np.add.at(sums, index, np.nan_to_num(series.values))
    np.add.at(counts, index, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None], (lo, hi)


def _scan(ax: Axes, data: TimelineData, x: Callable[[np.ndarray], np.ndarray]) -> None:
    """Scan capacitance: electrode by time, binned to the figure's resolution."""
    assert data.scan is not None
    grid, (lo, hi) = _binned(data.scan, data.span, HEATMAP_BINS)
    finite = grid[np.isfinite(grid)]
    vmin, vmax = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
    if vmax <= vmin:
        vmax = vmin + 1.0
    left, right = x(np.array([lo, hi]))
    image = ax.imshow(
        np.ma.masked_invalid(grid.T),
        aspect="auto",
        origin="upper",
        interpolation="nearest",
        extent=(left, right, grid.shape[1] - 0.5, -0.5),
        vmin=vmin,
        vmax=vmax,
        cmap="viridis",
        zorder=1,  # over the shading of activity and gaps: the colours are the data
    )
    image.set_gid("scan capacitance")
    ax.set_ylabel("electrode")
    bar = ax.inset_axes((1.005, 0.0, 0.008, 1.0))
    ax.figure.colorbar(image, cax=bar).set_label("capacitance", fontsize="x-small")
    bar.tick_params(labelsize="x-small")


def _lines(ax: Axes, t: np.ndarray, values: np.ndarray, labels: list[str], **style: object) -> None:
    for column, label in zip(values.T, labels, strict=True):
        ax.plot(t, column, label=label, **style)  # type: ignore[arg-type]


def _active(ax: Axes, data: TimelineData, x: Callable[[np.ndarray], np.ndarray]) -> None:
    assert data.active is not None
    _lines(ax, x(data.active.t), data.active.values, ["active"], lw=0.7, color="#2c7fb8")
    ax.set_ylabel("calibrated")


def _groups(ax: Axes, data: TimelineData, x: Callable[[np.ndarray], np.ndarray]) -> None:
    assert data.groups is not None
    labels = [f"group {i}" for i in range(data.groups.values.shape[1])]
    _lines(ax, x(data.groups.t), data.groups.values, labels, lw=0.7)
    ax.set_ylabel("calibrated")
    ax.legend(loc="upper right", fontsize="x-small", ncols=min(5, len(labels)))


def _hv(ax: Axes, data: TimelineData, x: Callable[[np.ndarray], np.ndarray]) -> None:
    assert data.hv is not None
    t = x(data.hv.t)
    ax.plot(t, data.hv.values[:, 0], lw=0.9, color="#e6550d", label="voltage")
    ax.set_ylabel("volts")
    target = ax.twinx()
    target.set_label("high voltage target")
    target.step(t, data.hv.values[:, 1], where="post", lw=0.9, ls="--", color="#636363", label="target")
    target.set_ylabel("v_target_out", fontsize="x-small")
    target.tick_params(labelsize="x-small")
    ax.legend(handles=[*ax.get_lines(), *target.get_lines()], loc="upper right", fontsize="x-small", ncols=2)


def _temperatures(ax: Axes, data: TimelineData, x: Callable[[np.ndarray], np.ndarray]) -> None:
    assert data.temperatures is not None
    t = x(data.temperatures.t)
    labels = [f"T{i}" for i in range(data.temperatures.values.shape[1])]
    _lines(ax, t, data.temperatures.values, labels, lw=0.9)
    ax.set_ylabel("°C")
    handles = list(ax.get_lines())
    if data.heater_duty is not None:
        duty = ax.twinx()
        duty.set_label("temperature duty cycle")
        names = [f"duty {i}" for i in range(data.heater_duty.values.shape[1])]
        _lines(duty, x(data.heater_duty.t), data.heater_duty.values, names, lw=0.7, ls=":")
        duty.set_ylabel("duty cycle", fontsize="x-small")
        duty.tick_params(labelsize="x-small")
        handles += duty.get_lines()
    ax.legend(handles=handles, loc="upper right", fontsize="x-small", ncols=min(8, len(handles)))


PANELS = tuple(
    Panel(name, kind, height, draw)
    for name, kind, (height, draw) in zip(
        PANEL_NAMES,
        PLOT_KINDS,
        [(2.0, _electrodes), (2.0, _scan), (1.1, _active), (1.1, _groups), (1.0, _hv), (1.0, _temperatures)],
        strict=True,
    )
)
