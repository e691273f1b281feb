// The electrode board, from get_board_definition, drawn in SVG: geometry as pdlogkit.boards computes it
// (x to the right, y down; a grid cell (column c, row r) is the square from origin + (c, r) * pitch, one
// pitch wide; a peripheral electrode's polygon is moved by the peripheral's and the electrode's origins,
// then turned by the peripheral's rotation, degrees clockwise on screen, about the peripheral's origin).

const SVG = "http://www.w3.org/2000/svg";

// pin -> list of outlines (each a list of [x, y]), pins in increasing order.
export function electrodeOutlines(definition) {
  const layout = definition.layout || {};
  const outlines = new Map();
  const add = (pin, outline) => {
    if (!outlines.has(pin)) outlines.set(pin, []);
    outlines.get(pin).push(outline);
  };
  for (const grid of layout.grids || []) {
    const [ox, oy] = grid.origin;
    const pitch = grid.pitch;
    grid.pins.forEach((row, r) =>
      row.forEach((pin, c) => {
        if (pin === null || pin === -1) return;
        const x = ox + c * pitch;
        const y = oy + r * pitch;
        add(pin, [
          [x, y],
          [x + pitch, y],
          [x + pitch, y + pitch],
          [x, y + pitch],
        ]);
      }),
    );
  }
  for (const peripheral of layout.peripherals || []) {
    const [px, py] = peripheral.origin || [0, 0];
    const angle = ((peripheral.rotation || 0) * Math.PI) / 180;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    for (const electrode of peripheral.electrodes || []) {
      const [ex, ey] = electrode.origin || [0, 0];
      let points = electrode.polygon.map(([x, y]) => [x + px + ex, y + py + ey]);
      const first = points[0];
      const last = points[points.length - 1];
      if (points.length > 3 && first[0] === last[0] && first[1] === last[1]) points.pop();
      if (angle) {
        points = points.map(([x, y]) => [px + cos * (x - px) - sin * (y - py), py + sin * (x - px) + cos * (y - py)]);
      }
      add(electrode.pin, points);
    }
  }
  return new Map([...outlines.entries()].sort((a, b) => a[0] - b[0]));
}

function extent(outlines) {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const shapes of outlines.values()) {
    for (const outline of shapes) {
      for (const [x, y] of outline) {
        minX = Math.min(minX, x);
        minY = Math.min(minY, y);
        maxX = Math.max(maxX, x);
        maxY = Math.max(maxY, y);
      }
    }
  }
  return minX === Infinity ? [0, 0, 1, 1] : [minX, minY, maxX, maxY];
}

// Colour of a value from 0 to 1: a perceptual ramp (viridis' stops), dark to bright.
const RAMP = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

export function rampColour(fraction) {
  const f = Math.min(1, Math.max(0, fraction)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(f));
  const t = f - i;
  const [a, b] = [RAMP[i], RAMP[i + 1]];
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * t)).join(",")})`;
}

export class BoardView {
  constructor(svg, legend) {
    this.svg = svg;
    this.legend = legend;
    this.electrodes = new Map(); // pin -> <g>
    this.scale = 0; // the largest capacitance seen: the top of the colour scale
    this.values = [];
  }

  // Draw a board definition (replacing any drawn before; the colour scale starts over).
  show(definition) {
    this.scale = 0;
    const outlines = electrodeOutlines(definition);
    const [minX, minY, maxX, maxY] = extent(outlines);
    const margin = Math.max(maxX - minX, maxY - minY) * 0.02;
    this.svg.replaceChildren();
    this.svg.setAttribute(
      "viewBox",
      `${minX - margin} ${minY - margin} ${maxX - minX + 2 * margin} ${maxY - minY + 2 * margin}`,
    );
    this.electrodes = new Map();
    for (const [pin, shapes] of outlines) {
      const group = document.createElementNS(SVG, "g");
      group.setAttribute("class", "electrode");
      group.dataset.pin = pin;
      for (const outline of shapes) {
        const polygon = document.createElementNS(SVG, "polygon");
        polygon.setAttribute("points", outline.map(([x, y]) => `${x},${y}`).join(" "));
        group.append(polygon);
      }
      const title = document.createElementNS(SVG, "title");
      title.textContent = `pin ${pin}`;
      group.append(title);
      this.svg.append(group);
      this.electrodes.set(pin, group);
    }
    this.setCapacitance(this.values);
  }

  clear(message) {
    this.svg.replaceChildren();
    this.electrodes = new Map();
    this.legend.textContent = message;
  }

  // Driven electrodes: one list of 128 booleans per drive group (group 0 and group 1 highlighted apart).
  setDriven(groups) {
    for (const [pin, group] of this.electrodes) {
      const g0 = Boolean(groups[0] && groups[0][pin]);
      const g1 = Boolean(groups[1] && groups[1][pin]);
      group.classList.toggle("driven", g0 || g1);
      group.classList.toggle("group1", g1 && !g0);
      if (g0 || g1) this.svg.append(group); // on top: its outline is not covered by its neighbours
    }
  }

  // Scan capacitance (calibrated, one value per pin) as the electrodes' fill colour.
  setCapacitance(values) {
    this.values = values;
    for (const v of values) if (Number.isFinite(v) && v > this.scale) this.scale = v;
    for (const [pin, group] of this.electrodes) {
      const v = values[pin];
      const measured = Number.isFinite(v) && v > 0 && this.scale > 0;
      group.style.fill = measured ? rampColour(v / this.scale) : "";
      group.lastElementChild.textContent = measured ? `pin ${pin}: ${v.toFixed(3)}` : `pin ${pin}`;
    }
    if (this.electrodes.size) {
      this.legend.textContent = this.scale > 0 ? `scan capacitance: 0 to ${this.scale.toPrecision(3)}` : "";
    }
  }
}
