// The seek bar over the whole log: where playback is, the periods of activity as bands, the markers as
// ticks; a click (or a drag, on release) asks to go to that time, a marker goes to its own time.

import { formatTime } from "./format.js";

export class SeekBar {
  constructor(element, onSeek) {
    this.element = element;
    this.onSeek = onSeek;
    this.duration = 0;
    this.track = element.querySelector(".track");
    this.played = element.querySelector(".played");
    this.thumb = element.querySelector(".thumb");
    this.periods = element.querySelector(".periods");
    this.markers = element.querySelector(".markers");
    this.hover = element.querySelector(".hover");
    this.dragging = false;
    this.track.addEventListener("pointerdown", (e) => this.press(e));
    this.track.addEventListener("pointermove", (e) => this.move(e));
    this.track.addEventListener("pointerup", (e) => this.release(e));
    this.track.addEventListener("pointercancel", () => (this.dragging = false));
    this.track.addEventListener("pointerleave", () => {
      if (!this.dragging) this.hover.hidden = true;
    });
    this.marks = [];
    this.bands = [];
  }

  timeAt(event) {
    const box = this.track.getBoundingClientRect();
    return (Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) || 0) * this.duration;
  }

  press(event) {
    if (event.button !== 0 || !this.duration) return;
    this.dragging = true;
    this.track.setPointerCapture(event.pointerId);
    this.show(this.timeAt(event));
  }

  move(event) {
    if (!this.duration) return;
    const t = this.timeAt(event);
    this.hover.hidden = false;
    this.hover.textContent = formatTime(t);
    this.hover.style.left = `${(t / this.duration) * 100}%`;
    if (this.dragging) this.show(t);
  }

  release(event) {
    if (!this.dragging) return;
    this.dragging = false;
    this.onSeek(this.timeAt(event));
  }

  setDuration(duration) {
    if (duration === this.duration) return;
    this.duration = duration;
    this.setMarkers(this.marks);
    this.setActivity(this.bands);
  }

  // Where playback is (ignored while the user drags).
  setPosition(t) {
    if (!this.dragging) this.show(t);
  }

  show(t) {
    const percent = this.duration ? Math.min(100, Math.max(0, (t / this.duration) * 100)) : 0;
    this.played.style.width = `${percent}%`;
    this.thumb.style.left = `${percent}%`;
  }

  // Periods of activity: [{start, end, moves, electrodes}], seconds from the log start.
  setActivity(periods) {
    this.bands = periods;
    this.periods.replaceChildren(
      ...periods.map((p) => {
        const band = document.createElement("div");
        band.className = "period";
        band.style.left = `${this.percent(p.start)}%`;
        band.style.width = `${Math.max(0.2, this.percent(p.end) - this.percent(p.start))}%`;
        band.title = `activity ${formatTime(p.start)} to ${formatTime(p.end)}: ${p.moves} move(s)`;
        return band;
      }),
    );
  }

  // Markers: [{time, text, fields}], seconds from the log start; each a button that seeks to its time.
  setMarkers(markers) {
    this.marks = markers;
    this.markers.replaceChildren(
      ...markers.map((m) => {
        const tick = document.createElement("button");
        tick.className = "marker";
        tick.type = "button";
        tick.tabIndex = -1;
        tick.dataset.time = m.time;
        tick.style.left = `${this.percent(m.time)}%`;
        tick.title = `${formatTime(m.time)}  ${m.text}`;
        tick.setAttribute("aria-label", `marker at ${formatTime(m.time)}: ${m.text}`);
        tick.addEventListener("pointerdown", (e) => e.stopPropagation());
        tick.addEventListener("click", () => this.onSeek(m.time));
        return tick;
      }),
    );
  }

  percent(t) {
    return this.duration ? Math.min(100, Math.max(0, (t / this.duration) * 100)) : 0;
  }
}
