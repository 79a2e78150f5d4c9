// Panel 2: both networks' class probabilities as bar charts, the top class highlighted.
import { CLASSES, COLORS, argmax, chartLib, pct } from '../util.js';

function barChart(canvas, strong, soft) {
  const Chart = chartLib();
  return new Chart(canvas, {
    type: 'bar',
    data: { labels: CLASSES, datasets: [{ data: new Array(10).fill(0), backgroundColor: new Array(10).fill(soft), borderRadius: 3 }] },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 120 },
      scales: {
        y: { min: 0, max: 1, ticks: { callback: (v) => `${Math.round(v * 100)}%`, stepSize: 0.25 } },
        x: { grid: { display: false } },
      },
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => pct(c.raw) } } },
    },
    _colors: { strong, soft },
  });
}

export function createPredictions() {
  const charts = {
    splash: barChart(document.getElementById('bars-splash'), COLORS.splash, COLORS.splashSoft),
    relu: barChart(document.getElementById('bars-relu'), COLORS.relu, COLORS.reluSoft),
  };
  const colors = { splash: [COLORS.splash, COLORS.splashSoft], relu: [COLORS.relu, COLORS.reluSoft] };
  const tops = { splash: document.getElementById('top-splash'), relu: document.getElementById('top-relu') };

  return {
    update(probs) {
      for (const v of ['splash', 'relu']) {
        const p = Array.from(probs[v]);
        const top = argmax(p);
        const ds = charts[v].data.datasets[0];
        ds.data = p;
        ds.backgroundColor = p.map((_, k) => (k === top ? colors[v][0] : colors[v][1]));
        charts[v].update();
        tops[v].textContent = '';
        tops[v].append(String(top), Object.assign(document.createElement('small'), { textContent: pct(p[top]) }));
        tops[v].dataset.prediction = String(top);
        // Read as "3, 100.0 %", not "3100.0%".
        tops[v].setAttribute('aria-label', `${v === 'splash' ? 'SPLASH' : 'ReLU'} says ${top}, ${pct(p[top])}`);
        // The chart's text alternative: the three most likely classes.
        const best = p.map((q, k) => [q, k]).sort((a, b) => b[0] - a[0]).slice(0, 3);
        charts[v].canvas.setAttribute('aria-label', `${v === 'splash' ? 'SPLASH' : 'ReLU'} class probabilities: ${best.map(([q, k]) => `${k} ${pct(q)}`).join(', ')}`);
      }
    },
    clear(message = 'draw a digit') {
      for (const v of ['splash', 'relu']) {
        const ds = charts[v].data.datasets[0];
        ds.data = new Array(10).fill(0);
        charts[v].update();
        tops[v].textContent = '';
        tops[v].append(Object.assign(document.createElement('small'), { textContent: message }));
        tops[v].removeAttribute('aria-label');
        delete tops[v].dataset.prediction;
      }
    },
  };
}
