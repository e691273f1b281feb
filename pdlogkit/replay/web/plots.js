// Scrolling line plots on a canvas: the last N seconds of one or more series, drawn when asked.

// Seconds of readings kept, whatever the span shown (the longest span the page offers).
const KEEP = 300;
const COLOURS = ["#4e9af1", "#f1a34e", "#5cc46a", "#e0584f", "#a77ee8", "#d2c34a", "#49c2c7", "#e27ac0"];

export class Plot {
  constructor(canvas, { title, unit, labels = null }) {
    this.canvas = canvas;
    this.title = title;
    this.unit = unit;
    this.labels = labels; // names of the series (null: numbered as they come)
    this.series = []; // per series: flat [t0, v0, t1, v1, ...]
    this.latest = -Infinity;
    this.dirty = true;
  }

  // One sample of every series at time t (seconds); a time far behind the latest starts over (a seek).
  add(t, values) {
    if (t < this.latest - 1) this.clear();
    while (this.series.length < values.length) this.series.push([]);
    values.forEach((v, i) => this.series[i].push(t, v));
    this.latest = Math.max(this.latest, t);
    this.dirty = true;
  }

  clear() {
    this.series = [];
    this.latest = -Infinity;
    this.dirty = true;
  }

  get heading() {
    return `${this.title}${this.unit ? ` (${this.unit})` : ""}`;
  }

  get samples() {
    return this.series.reduce((n, s) => n + s.length / 2, 0);
  }

  // Draw the `span` seconds up to the latest sample (from `floor` on, while there are fewer); `label(t)`
  // writes a time on the axis.
  draw(span, label, floor = -Infinity) {
    const canvas = this.canvas;
    const ratio = globalThis.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      this.dirty = true;
    }
    if (!this.dirty) return;
    this.dirty = false;
    const right = Math.max(this.latest, floor + span);
    const left = right - span;
    this.prune(this.latest - KEEP);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    ctx.clearRect(0, 0, w, h);
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of this.series) {
      for (let i = 1; i < s.length; i += 2) {
        if (Number.isFinite(s[i])) {
          lo = Math.min(lo, s[i]);
          hi = Math.max(hi, s[i]);
        }
      }
    }
    ctx.font = "11px system-ui, sans-serif";
    const ticks = lo === Infinity ? [] : this.ticks(lo, hi);
    const labelWidth = Math.max(20, ...ticks.map(([, text]) => ctx.measureText(text).width));
    const box = { x: labelWidth + 8, y: 18, w: w - labelWidth - 16, h: h - 34 };
    ctx.fillStyle = "#ccd";
    ctx.textBaseline = "top";
    ctx.fillText(this.heading, box.x, 2);
    ctx.strokeStyle = "#445";
    ctx.lineWidth = 1;
    ctx.strokeRect(box.x, box.y, box.w, box.h);
    canvas.dataset.samples = this.samples;
    if (lo === Infinity) {
      ctx.fillStyle = "#889";
      ctx.fillText("no readings yet", box.x + 8, box.y + 8);
      return;
    }
    [lo, hi] = [ticks[2][0], ticks[0][0]];
    const x = (t) => box.x + ((t - left) / span) * box.w;
    const y = (v) => box.y + box.h - ((v - lo) / (hi - lo)) * box.h;
    ctx.fillStyle = "#aab";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const [v, text] of ticks) ctx.fillText(text, box.x - 4, y(v));
    ctx.textBaseline = "top";
    for (const [t, align] of [
      [left, "left"],
      [(left + right) / 2, "center"],
      [right, "right"],
    ]) {
      ctx.textAlign = align;
      ctx.fillText(label(t), x(t), box.y + box.h + 3);
    }
    ctx.save();
    ctx.beginPath();
    ctx.rect(box.x, box.y, box.w, box.h);
    ctx.clip();
    this.series.forEach((s, i) => {
      ctx.strokeStyle = COLOURS[i % COLOURS.length];
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let pen = false;
      for (let k = 0; k < s.length; k += 2) {
        if (!Number.isFinite(s[k + 1])) {
          pen = false;
          continue;
        }
        if (pen) ctx.lineTo(x(s[k]), y(s[k + 1]));
        else ctx.moveTo(x(s[k]), y(s[k + 1]));
        pen = true;
      }
      ctx.stroke();
    });
    ctx.restore();
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    let at = box.x + ctx.measureText(this.heading).width + 14;
    this.series.forEach((s, i) => {
      if (this.series.length < 2) return;
      const name = this.labels ? this.labels(i) : String(i);
      ctx.fillStyle = COLOURS[i % COLOURS.length];
      ctx.fillText(name, at, 2);
      at += ctx.measureText(name).width + 8;
    });
  }

  // The value axis from the readings' range, padded: [[value, label]] top, middle, bottom.
  ticks(lo, hi) {
    const pad = hi - lo < 1e-9 ? Math.abs(hi) * 0.05 || 1 : (hi - lo) * 0.08;
    const [top, bottom] = [hi + pad, lo - pad];
    return [top, (top + bottom) / 2, bottom].map((v) => [v, formatValue(v, top - bottom)]);
  }

  // Forget samples before `left`, keeping one so the line enters from the edge.
  prune(left) {
    for (const s of this.series) {
      let k = 0;
      while (k + 2 < s.length && s[k + 2] < left) k += 2;
      if (k) s.splice(0, k);
    }
  }
}

function formatValue(v, span) {
  const digits = span >= 100 ? 0 : span >= 10 ? 1 : span >= 1 ? 2 : 3;
  return v.toFixed(digits);
}
