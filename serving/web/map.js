// The song map: points {uri, name, artist, x, y} drawn on a canvas, fitted to its box with the
// same scale on both axes. A pointer or the arrow keys show a song's name; a click or Enter
// picks it; `highlight` marks one song and its neighbours.

const PAD = 14;
const HIT_RADIUS = 10;
const DIRECTIONS = {
  ArrowRight: [1, 0],
  ArrowLeft: [-1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
};

function colour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export class EmbeddingMap {
  constructor(canvas, tip, { onPick } = {}) {
    this.canvas = canvas;
    this.tip = tip;
    this.onPick = onPick || (() => {});
    this.points = [];
    this.screen = []; // [x, y] in CSS pixels, one per point
    this.active = -1; // the point under the pointer or the keyboard focus
    this.selected = -1;
    this.neighbours = new Set();
    new ResizeObserver(() => this.draw()).observe(canvas);
    canvas.addEventListener("pointermove", (e) => this.hover(this.at(e)));
    canvas.addEventListener("pointerleave", () => this.hover(-1));
    canvas.addEventListener("click", (e) => {
      const i = this.at(e);
      if (i >= 0) this.onPick(this.points[i]);
    });
    canvas.addEventListener("keydown", (e) => this.key(e));
    canvas.addEventListener("blur", () => this.hover(-1));
  }

  setPoints(points) {
    this.points = points;
    this.index = new Map(points.map((p, i) => [p.uri, i]));
    this.selected = -1;
    this.neighbours = new Set();
    this.draw();
  }

  has(uri) {
    return this.index !== undefined && this.index.has(uri);
  }

  // Mark `uri` and those of `neighbourUris` on the map; null clears the marks.
  highlight(uri, neighbourUris = []) {
    this.selected = uri === null ? -1 : this.index.get(uri) ?? -1;
    this.neighbours = new Set(neighbourUris.map((u) => this.index.get(u)).filter((i) => i >= 0));
    this.canvas.dataset.highlighted = this.selected >= 0 ? this.points[this.selected].uri : "";
    this.draw();
  }

  layout(width, height) {
    if (!this.points.length) return (this.screen = []);
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const p of this.points) {
      x0 = Math.min(x0, p.x);
      x1 = Math.max(x1, p.x);
      y0 = Math.min(y0, p.y);
      y1 = Math.max(y1, p.y);
    }
    const scale = Math.min((width - 2 * PAD) / (x1 - x0 || 1), (height - 2 * PAD) / (y1 - y0 || 1));
    const ox = (width - scale * (x1 - x0)) / 2;
    const oy = (height - scale * (y1 - y0)) / 2;
    this.screen = this.points.map((p) => [ox + scale * (p.x - x0), oy + scale * (y1 - p.y)]);
  }

  draw() {
    const { canvas } = this;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    this.layout(width, height);
    const marked = this.selected >= 0;
    g.fillStyle = colour("--map-point");
    g.globalAlpha = marked ? 0.25 : 0.6;
    for (const [x, y] of this.screen) g.fillRect(x - 1.5, y - 1.5, 3, 3);
    g.globalAlpha = 1;
    this.dot(g, this.neighbours, 4.5, colour("--map-neighbour"));
    if (marked) this.dot(g, [this.selected], 7, colour("--map-selected"), true);
    if (this.active >= 0) this.dot(g, [this.active], 9, colour("--focus"), true, true);
  }

  dot(g, indices, radius, fill, outline = false, ringOnly = false) {
    for (const i of indices) {
      const [x, y] = this.screen[i];
      g.beginPath();
      g.arc(x, y, radius, 0, 2 * Math.PI);
      if (!ringOnly) {
        g.fillStyle = fill;
        g.fill();
      }
      if (outline) {
        g.lineWidth = 2;
        g.strokeStyle = ringOnly ? fill : colour("--bg");
        g.stroke();
      }
    }
  }

  // The point nearest a pointer event, within HIT_RADIUS pixels; -1 when none.
  at(event) {
    const box = this.canvas.getBoundingClientRect();
    const px = event.clientX - box.left;
    const py = event.clientY - box.top;
    let best = -1;
    let bestD = HIT_RADIUS * HIT_RADIUS;
    this.screen.forEach(([x, y], i) => {
      const d = (x - px) ** 2 + (y - py) ** 2;
      if (d <= bestD) [best, bestD] = [i, d];
    });
    return best;
  }

  hover(i) {
    this.active = i;
    this.draw();
    if (i < 0) {
      this.tip.hidden = true;
      return;
    }
    const p = this.points[i];
    const [x, y] = this.screen[i];
    this.tip.textContent = p.artist ? `${p.name} — ${p.artist}` : p.name;
    this.tip.hidden = false;
    const left = Math.min(x + 12, this.canvas.clientWidth - this.tip.offsetWidth - 4);
    this.tip.style.left = `${Math.max(4, left)}px`;
    this.tip.style.top = `${Math.max(4, y - this.tip.offsetHeight - 8)}px`;
  }

  key(event) {
    if (!this.points.length) return;
    if (event.key in DIRECTIONS) {
      event.preventDefault();
      this.hover(this.step(DIRECTIONS[event.key]));
    } else if ((event.key === "Enter" || event.key === " ") && this.active >= 0) {
      event.preventDefault();
      this.onPick(this.points[this.active]);
    } else if (event.key === "Escape") {
      this.hover(-1);
      this.highlight(null);
    }
  }

  // From the active point (or the selected one, or the middle), the nearest point in a direction:
  // the one that is closest, counting sideways distance twice.
  step([dx, dy]) {
    const from = this.active >= 0 ? this.active : this.selected;
    if (from < 0) {
      const cx = this.canvas.clientWidth / 2;
      const cy = this.canvas.clientHeight / 2;
      return this.nearest(cx, cy);
    }
    const [fx, fy] = this.screen[from];
    let best = from;
    let bestCost = Infinity;
    this.screen.forEach(([x, y], i) => {
      const along = (x - fx) * dx + (y - fy) * dy;
      if (i === from || along <= 0) return;
      const across = Math.abs((x - fx) * dy - (y - fy) * dx);
      const cost = along + 2 * across;
      if (cost < bestCost) [best, bestCost] = [i, cost];
    });
    return best;
  }

  nearest(px, py) {
    let best = -1;
    let bestD = Infinity;
    this.screen.forEach(([x, y], i) => {
      const d = (x - px) ** 2 + (y - py) ** 2;
      if (d < bestD) [best, bestD] = [i, d];
    });
    return best;
  }
}
