// Panel 3, below the attack: how far the perturbation travels through each network. For
// every activation layer the relative change of its input, ‖z(x′) − z(x)‖ / ‖z(x)‖, then
// the logits (computed in the core: Model::perturbation_trace).
import { COLORS, chartLib, pct } from '../util.js';

export function createTravel(canvas) {
  const Chart = chartLib();
  const chart = new Chart(canvas, {
    type: 'line',
    data: {
      labels: [],
      datasets: [
        { label: 'SPLASH', data: [], borderColor: COLORS.splash, backgroundColor: COLORS.splash, borderWidth: 2.5, pointRadius: 3 },
        { label: 'ReLU', data: [], borderColor: COLORS.relu, backgroundColor: COLORS.relu, borderWidth: 2.5, pointRadius: 3 },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        y: { min: 0, title: { display: true, text: 'relative change' }, ticks: { callback: (v) => pct(v, 0) } },
        x: { grid: { display: false } },
      },
      plugins: { legend: { labels: { boxWidth: 12 } }, tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${pct(c.raw)}` } } },
    },
  });
  return {
    /** `rows`: the attack's rows ({victim, trace}); `layers`: the activation layers' names. */
    update(rows, layers) {
      chart.data.labels = [...layers, 'logits'];
      for (const [k, v] of ['splash', 'relu'].entries()) chart.data.datasets[k].data = Array.from(rows.find((r) => r.victim === v)?.trace ?? []);
      chart.update();
      const say = (v) => {
        const t = rows.find((r) => r.victim === v)?.trace;
        return t ? `${v === 'splash' ? 'SPLASH' : 'ReLU'} ${t.length ? `from ${pct(t[0])} at the first layer to ${pct(t[t.length - 1])} at the logits` : ''}` : '';
      };
      canvas.setAttribute('aria-label', `Relative change of each layer under the attack: ${say('splash')}; ${say('relu')}.`);
    },
    clear() {
      chart.data.labels = [];
      for (const d of chart.data.datasets) d.data = [];
      chart.update();
    },
  };
}
