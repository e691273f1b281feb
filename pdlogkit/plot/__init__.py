"""The timeline figure of a whole experiment: what the device did and measured, on one time axis.

    fig = timeline(log)                        # a matplotlib Figure, for a notebook
    save_timeline(log, "run.png")              # .png, .svg or .pdf, written atomically

Panels share the time axis and appear only for kinds the log holds: the electrode
activations (electrode by time, by drive group), scan capacitance as a heatmap,
active and group capacitance, the high voltage with its target, the temperatures
with the heaters' duty cycles; markers are labelled vertical lines, periods of
activity and recording gaps are shaded. Only those kinds are read, never a container's image chunks.
The data comes from the log's tables (`log.table`: the `activations` table and a
table per sensor kind). Needs matplotlib and pyarrow (`pip install 'pdlogkit[plot]'`);
drawn with matplotlib's Agg renderer.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependencyError
from ..events import check_kinds
from ..files.output import open_output, refuse_inputs
from ..log import Log, TimeBound, open_log

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The kinds the figure has a panel for, in the order the panels are stacked.
PLOT_KINDS = (
    "electrode_state",
    "scan_capacitance",
    "active_capacitance",
    "group_capacitance",
    "hv_regulator",
    "temperature_control",
)
#: The panels' names (each panel's Axes label), in the order they are stacked: one per kind of `PLOT_KINDS`.
PANEL_NAMES = (
    "electrodes",
    "scan capacitance",
    "active capacitance",
    "group capacitance",
    "high voltage",
    "temperature",
)
#: Figure files by extension.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: What to install for the figure.
EXTRA = "pip install 'pdlogkit[plot]'"


def _require_extra() -> None:
    """`MissingDependencyError` (an ImportError) naming the extra when matplotlib or pyarrow is not installed."""
    for module in ("matplotlib", "pyarrow"):
        try:
            __import__(module)
        except ImportError:
            raise MissingDependencyError(f"the timeline figure needs {module}: {EXTRA}") from None


def timeline(
    log: Log | str | os.PathLike[str],
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    kinds: Iterable[str] | None = None,
    clock: bool = False,
    timezone: dt.tzinfo | None = None,
    width: float = 12.0,
    height: float | None = None,
    dpi: float = 100.0,
    activity: bool = True,
) -> Figure:
    """The timeline figure of a log (or of its window [start, end), seconds from its start or aware datetimes).

    `kinds` limits the panels (default: all of `PLOT_KINDS` the log holds). The time
    axis is in seconds since the log's start, or wall time with `clock` (UTC unless
    `timezone` says). `width` and `height` are in inches (the height grows with the
    panels unless given). Raises `PlotError` when the window holds nothing to plot,
    `WindowError` when it lies outside the log. `activity` shades the periods of
    activity, as `pdlogkit activity` finds them with its defaults (electrode moves and
    markers, 5 s before to 10 s after).
    """
    wanted = _kinds(kinds)
    _require_extra()
    from .data import gather
    from .figure import draw_timeline

    if not isinstance(log, Log):
        with open_log(log) as opened:
            return timeline(
                opened,
                start=start,
                end=end,
                kinds=wanted,
                clock=clock,
                timezone=timezone,
                width=width,
                height=height,
                dpi=dpi,
                activity=activity,
            )
    if start is not None or end is not None:
        log.require_window(start, end)
    data = gather(log, wanted, start, end, activity=activity)
    return draw_timeline(data, clock=clock, timezone=timezone, width=width, height=height, dpi=dpi)


@dataclass
class TimelineSummary:
    """What `save_timeline` wrote: the file, its size in pixels (PNG) or points, the panels, markers, gaps."""

    path: str
    format: str
    width: int
    height: int
    panels: list[str] = field(default_factory=list)
    markers: int = 0
    gaps: int = 0
    activity: int = 0  # periods of activity shaded
    size: int = 0  # bytes
    truncation: str | None = None  # the log was cut short here: the figure ends there

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary, for `plot --json` and scripts."""
        return asdict(self)


def save_timeline(
    log: Log | str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    **options: Any,
) -> TimelineSummary:
    """Draw `timeline(log, **options)` and write it to `out_path` (.png, .svg or .pdf, by its extension).

    The file appears only once complete; an existing one is replaced only with
    `overwrite=True` (else `OutputExistsError`).
    """
    out = os.fspath(out_path)
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{out}: unknown figure file extension {suffix!r}; use one of {', '.join(FORMATS)}")
    if not isinstance(log, Log):
        refuse_inputs(out, [log])
        with open_log(log) as opened:
            return save_timeline(opened, out, overwrite=overwrite, **options)
    refuse_inputs(out, [log.path])
    output = open_output(out, overwrite=overwrite)  # claimed first: an existing file stops it before the drawing
    buffer = io.BytesIO()
    try:
        figure = timeline(log, **options)
        figure.savefig(buffer, format=FORMATS[suffix])
        output.write(buffer.getbuffer())
        output.commit()
    except BaseException:
        output.abort()
        raise
    width, height = figure.get_size_inches() * (figure.dpi if suffix == ".png" else 72)
    panels = [str(ax.get_label()) for ax in figure.axes if ax.get_label() in PANEL_NAMES]
    return TimelineSummary(
        path=out,
        format=FORMATS[suffix],
        width=round(width),
        height=round(height),
        panels=panels,
        markers=sum(1 for line in figure.axes[0].get_lines() if line.get_gid() == "marker"),
        gaps=sum(1 for patch in figure.axes[0].patches if patch.get_gid() == "gap"),
        activity=sum(1 for patch in figure.axes[0].patches if patch.get_gid() == "activity"),
        size=buffer.getbuffer().nbytes,
        truncation=None if log.truncation is None else f"{log.path}: {log.truncation}",
    )


def _kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    if kinds is None:
        return PLOT_KINDS
    chosen = check_kinds(kinds) or frozenset()
    missing = sorted(chosen - set(PLOT_KINDS))
    if missing:
        raise ValueError(f"no panel for {', '.join(missing)}; the figure shows {', '.join(PLOT_KINDS)}")
    return tuple(k for k in PLOT_KINDS if k in chosen)


__all__ = ["EXTRA", "FORMATS", "PANEL_NAMES", "PLOT_KINDS", "TimelineSummary", "save_timeline", "timeline"]
