// Panel 7: each SPLASH layer's learned h(x) against ReLU, hinges marked, slopes listed, and a
// histogram of the current digit's pre-activations; the coefficients in a table.
import { CHART_BASE, COLORS, chartLib, el } from '../util.js';

const BINS = 32; // over [−4, 4]

/** Slopes of h on the 8 pieces between the 7 hinges, left to right. */
export function slopes(aPlus, aMinus) {
  const neg = [3, 2, 1, 0].map((s) => -aMinus.slice(0, s + 1).reduce((a, b) => a + b, 0));
  const pos = [0, 1, 2, 3].map((s) => aPlus.slice(0, s + 1).reduce((a, b) => a + b, 0));
  return [...neg, ...pos];
}

function histogram(values) {
  const counts = new Array(BINS).fill(0);
  let inRange = 0;
  for (const v of values) {
    const b = Math.floor(((v + 4) / 8) * BINS);
    if (b >= 0 && b < BINS) {
      counts[b]++;
      inRange++;
    }
  }
  const n = Math.max(1, values.length);
  return { points: counts.map((c, b) => ({ x: -4 + (b + 0.5) * (8 / BINS), y: c / n })), outside: values.length - inRange };
}

export function createCurves(root, table) {
  let charts = [];
  let notes = [];
  let xs = [];

  /** Draws each layer of `info` (the SPLASH network's description); `twin`, if given, is
   * the same network trained the other way ({info, label}), drawn thin for comparison. */
  function render(info, twin = null) {
    for (const c of charts) c.destroy();
    charts = [];
    notes = [];
    root.replaceChildren();
    // One legend for every card (a legend inside the first chart would make it smaller).
    const key = (cls, text) => el('span', { class: 'key' }, [el('span', { class: `swatch ${cls}` }), text]);
    root.append(
      el('p', { class: 'curve-legend' }, [
        key('splash', 'SPLASH h(x)'),
        key('relu', 'ReLU'),
        key('hinge', 'hinges'),
        key('hist', 'where this digit’s pre-activations fall (right axis)'),
        twin ? key('twin', twin.label) : null,
      ]),
    );
    const Chart = chartLib();
    xs = info.curveX;
    info.layers.forEach((name, i) => {
      const ys = info.curves[i];
      const coef = info.coefficients[i];
      const aPlus = coef.slice(0, 4);
      const aMinus = coef.slice(4, 8);
      const canvas = el('canvas', { role: 'img' });
      const note = el('p', { class: 'slopes' });
      const s = slopes(aPlus, aMinus);
      // The pieces between the hinges (the model's, from its configuration): ±b for b > 0, and 0.
      const hs = info.config.hinges.filter((b) => b > 0);
      const cuts = [...hs.map((b) => -b).reverse(), 0, ...hs];
      const txt = (v) => String(v).replace('-', '−');
      const pieces = [`x<${txt(cuts[0])}`, ...cuts.slice(1).map((c, k) => `${txt(cuts[k])}…${txt(c)}`), `x>${txt(cuts.at(-1))}`];
      // One unbreakable item per piece, with true minus signs throughout.
      const num = (v) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2).replace('-', '−');
      note.append('slopes: ', ...pieces.flatMap((p, k) => [k ? ' · ' : '', el('span', { class: 'piece', text: `${p} ${num(s[k])}` })]));
      canvas.setAttribute('aria-label', `Learned activation of ${name} against ReLU; ${note.textContent}`);
      const hingeXs = info.config.hinges.flatMap((b) => (b === 0 ? [0] : [-b, b]));
      const at = (x) => ys[Math.round((x + 4) / 0.05)];
      const card = el('div', { class: 'curve-card', 'data-layer': name }, [
        el('h3', { text: name }),
        el('p', { class: 'site', text: info.sites?.[i] ? `after ${info.sites[i].split(' → ').slice(0, -1).join(' → ')}` : '' }),
        el('div', { class: 'chart-box act' }, [canvas]),
        note,
        el('p', { class: 'slopes', 'data-role': 'outside' }),
      ]);
      root.append(card);
      notes.push(card.querySelector('[data-role=outside]'));
      charts.push(
        new Chart(canvas, {
          data: {
            datasets: [
              { type: 'line', label: 'SPLASH h(x)', data: xs.map((x, k) => ({ x, y: ys[k] })), borderColor: COLORS.splash, pointRadius: 0, borderWidth: 2.5, yAxisID: 'y' },
              { type: 'line', label: 'ReLU', data: xs.map((x) => ({ x, y: Math.max(0, x) })), borderColor: COLORS.grey, borderDash: [5, 4], pointRadius: 0, borderWidth: 1.5, yAxisID: 'y' },
              { type: 'scatter', label: 'hinges', data: hingeXs.map((x) => ({ x, y: at(x) })), backgroundColor: '#111827', pointRadius: 3.5, yAxisID: 'y' },
              { type: 'bar', label: 'this digit', data: [], backgroundColor: 'rgba(107,114,128,0.25)', yAxisID: 'y2', barPercentage: 1, categoryPercentage: 1 },
              ...(twin && twin.info.layers[i] === name
                ? [{ type: 'line', label: twin.label, data: twin.info.curveX.map((x, k) => ({ x, y: twin.info.curves[i][k] })), borderColor: COLORS.splash, borderDash: [2, 3], pointRadius: 0, borderWidth: 1.5, yAxisID: 'y' }]
                : []),
            ],
          },
          options: {
            ...CHART_BASE,
            scales: {
              x: { type: 'linear', min: -4, max: 4, ticks: { stepSize: 1 } },
              y: { title: { display: true, text: 'h(x)' } },
              y2: { position: 'right', min: 0, grid: { display: false }, ticks: { callback: (v) => `${Math.round(v * 100)}%` } },
            },
            plugins: { legend: { display: false } },
          },
        }),
      );
    });
    table.replaceChildren(
      el('thead', {}, el('tr', {}, ['layer', 'a⁺₀', 'a⁺₁', 'a⁺₂', 'a⁺₃', 'a⁻₀', 'a⁻₁', 'a⁻₂', 'a⁻₃'].map((h) => el('th', { text: h })))),
      el('tbody', {}, info.layers.map((name, i) => el('tr', {}, [el('td', { text: name }), ...info.coefficients[i].map((v) => el('td', { text: v.toFixed(4) }))]))),
    );
  }

  return {
    render,
    /** Shows where the current digit's pre-activations fall (one array per layer). */
    setPreActivations(per) {
      charts.forEach((chart, i) => {
        const h = per ? histogram(per[i]) : { points: [], outside: 0 };
        chart.data.datasets[3].data = h.points;
        chart.update();
        notes[i].textContent = per ? `${h.outside} of ${per[i].length} pre-activations fall outside [−4, 4]` : '';
      });
    },
    count: () => charts.length,
    /** Draws `ys` dotted on layer `layer`'s chart as the bent curve (none: `ys` null). */
    setBent(layer, ys) {
      charts.forEach((chart, i) => {
        const sets = chart.data.datasets.filter((d) => d.label !== 'bent curve');
        if (i === layer && ys) sets.push({ type: 'line', label: 'bent curve', data: xs.map((x, k) => ({ x, y: ys[k] })), borderColor: '#111827', borderDash: [2, 3], pointRadius: 0, borderWidth: 2, yAxisID: 'y' });
        chart.data.datasets = sets;
        chart.update();
      });
    },
  };
}
