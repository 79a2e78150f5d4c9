// Small helpers shared by the panels.
// Pixels per 28×28 image: the core's (modelConstants), checked against it when the page starts.
export const PIXELS = 784;
export const CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const COLORS = {
  splash: '#d97706',
  splashSoft: 'rgba(217, 119, 6, 0.28)',
  relu: '#2563eb',
  reluSoft: 'rgba(37, 99, 235, 0.25)',
  grey: '#9ca3af',
};

/** Paints 784 grey levels (0 = black background, 1 = white ink) on a 28×28 canvas. */
export function drawDigit(canvas, pixels) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(28, 28);
  const scale = pixels instanceof Uint8Array ? 1 : 255;
  for (let i = 0; i < PIXELS; i++) {
    const v = Math.round(Math.min(255, Math.max(0, pixels[i] * scale)));
    img.data[4 * i] = v;
    img.data[4 * i + 1] = v;
    img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Paints a perturbation: red where pixels brightened, blue where they darkened, full at ±eps. */
export function drawPerturbation(canvas, delta, eps) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(28, 28);
  const scale = eps > 0 ? 1 / eps : 0;
  for (let i = 0; i < PIXELS; i++) {
    const t = Math.max(-1, Math.min(1, delta[i] * scale));
    const [r, g, b] = t >= 0 ? [255, 255 * (1 - t), 255 * (1 - t)] : [255 * (1 + t), 255 * (1 + t), 255];
    img.data[4 * i] = r;
    img.data[4 * i + 1] = g;
    img.data[4 * i + 2] = b;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

export function argmax(a, offset = 0, n = 10) {
  let best = 0;
  for (let k = 1; k < n; k++) if (a[offset + k] > a[offset + best]) best = k;
  return best;
}

export const pct = (v, digits = 1) => `${(100 * v).toFixed(digits)}%`;

/** Runs `task` at most once at a time; calls made meanwhile collapse into one rerun. */
export function coalesce(task) {
  let running = false;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await task();
      } while (again);
    } finally {
      running = false;
    }
  };
  return run;
}

/** Calls `fn` at most every `ms` milliseconds, always ending with the latest call. */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return (...args) => {
    const now = performance.now();
    clearTimeout(timer);
    if (now - last >= ms) {
      last = now;
      fn(...args);
    } else {
      timer = setTimeout(() => {
        last = performance.now();
        fn(...args);
      }, ms - (now - last));
    }
  };
}

export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of [].concat(children)) if (c) node.append(c);
  return node;
}

/** Options every chart of the page starts from: it fills its box, is redrawn at once (no
 * animation) and takes {x, y} points as they are. */
export const CHART_BASE = { responsive: true, maintainAspectRatio: false, animation: false, parsing: false };

/** The Chart.js constructor, loaded by a classic script tag from vendor/. */
export function chartLib() {
  if (!globalThis.Chart) throw new Error('the plotting library (vendor/chart.umd.js) did not load');
  return globalThis.Chart;
}

/**
 * A chart's text alternative: the canvas becomes an image whose label lists each data set's
 * points (at most `max` of them, evenly spaced), so a screen reader hears what is drawn.
 */
export function describeChart(chart, { title, x = (v) => String(v), y = (v) => String(v), max = 8 }) {
  const parts = chart.data.datasets
    .filter((d) => d.data.length)
    .map((d) => {
      const n = d.data.length;
      const idx = n <= max ? [...Array(n).keys()] : [...new Set(Array.from({ length: max }, (_, i) => Math.round((i * (n - 1)) / (max - 1))))];
      return `${d.label}: ${idx.map((i) => `${x(d.data[i].x)} → ${y(d.data[i].y)}`).join(', ')}`;
    });
  chart.canvas.setAttribute('role', 'img');
  chart.canvas.setAttribute('aria-label', `${title}. ${parts.length ? parts.join('; ') : 'No data yet'}.`);
}
