// Panel 6: accuracy against ε for both networks, live on held-out digits, with the
// reference curves on the full MNIST test set from the committed eval JSON.
import { COLORS, chartLib, pct } from '../util.js';

export const CURVE_EPSILONS = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3];

export function createRobustness(canvas) {
  const Chart = chartLib();
  const line = (label, color, dashed) => ({
    label,
    data: [],
    borderColor: color,
    backgroundColor: color,
    borderDash: dashed ? [6, 4] : [],
    pointRadius: dashed ? 0 : 3,
    tension: 0.15,
  });
  const chart = new Chart(canvas, {
    type: 'line',
    data: {
      datasets: [
        line('SPLASH (here)', COLORS.splash, false),
        line('ReLU (here)', COLORS.relu, false),
        line('SPLASH (10k test set)', COLORS.splash, true),
        line('ReLU (10k test set)', COLORS.relu, true),
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 150 },
      parsing: false,
      scales: {
        x: { type: 'linear', min: 0, max: 0.3, title: { display: true, text: 'ε (L∞, pixels in [0, 1])' } },
        y: { min: 0, max: 1, title: { display: true, text: 'accuracy' }, ticks: { callback: (v) => `${Math.round(v * 100)}%` } },
      },
      plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${pct(c.raw.y)}` } } },
    },
  });

  return {
    /** Reference curves from the eval reports: clean accuracy at ε = 0, then FGSM. */
    setReference(info, source) {
      for (const [k, v] of [[2, 'splash'], [3, 'relu']]) {
        const ev = info[v].eval;
        if (!ev || ev.error) {
          chart.data.datasets[k].data = [];
          continue;
        }
        const acc = source === 'transfer' ? ev.transfer?.accuracy : ev.white_box_accuracy;
        chart.data.datasets[k].label = `${v === 'splash' ? 'SPLASH' : 'ReLU'} (10k test set${source === 'transfer' ? ', transfer' : ''})`;
        chart.data.datasets[k].data = acc ? [{ x: 0, y: ev.clean_accuracy }, ...ev.epsilons.map((e, i) => ({ x: e, y: acc[i] }))] : [];
      }
      chart.update();
    },
    /** Live curves from counts of correct predictions after `done` digits. */
    setLive(correct, done) {
      for (const [k, v] of [[0, 'splash'], [1, 'relu']]) {
        chart.data.datasets[k].data = done ? CURVE_EPSILONS.map((e, i) => ({ x: e, y: correct[v][i] / done })) : [];
      }
      chart.update();
    },
    chart,
  };
}
