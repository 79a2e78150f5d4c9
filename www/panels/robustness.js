// Panel 4: accuracy against ε for both networks under a chosen attack, computed live on
// held-out digits over a pool of workers, drawn over the reference curves on the MNIST test
// set from the committed eval reports (the same attack, made by `splash eval`).
import { COLORS, chartLib, describeChart, el, pct } from '../util.js';

export const CURVE_EPSILONS = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3];

/** The curve's attacks, by the core's names (see AttackSpec::name in src/attack.rs). */
export const CURVE_ATTACKS = [
  ['fgsm', 'FGSM (one step)'],
  ['pgd-20', 'PGD-20 (quick; no test-set reference)'],
  ['pgd-40', 'PGD-40'],
  ['pgd-40-r5-margin', 'PGD-40, 5 restarts, margin loss'],
  ['apgd-ce-100', 'APGD-CE, 100 iterations (AutoAttack)'],
  ['apgd-dlr-t9-100', 'APGD-T: targeted DLR towards 9 classes (AutoAttack, slow)'],
  ['square-1000', 'Square, 1,000 queries (no gradient)'],
  ['square-5000', 'Square, 5,000 queries (AutoAttack, slow)'],
  ['worst', 'worst case of the attacks in the report'],
];
const LABELS = Object.fromEntries(CURVE_ATTACKS);
export const DEFAULT_WORST = ['fgsm', 'pgd-40', 'pgd-40-r5-margin', 'square-1000'];

/**
 * The budget a pair's verdict speaks of: the ε its networks were adversarially trained at
 * (from the recipe the eval report carries), or 0.1 for networks trained on clean digits,
 * where small budgets are the informative ones.
 */
export function verdictEpsilon(info) {
  const trained = info?.splash?.eval?.config?.recipe?.adversarial?.attack?.epsilon;
  return Number.isFinite(trained) && trained > 0 ? trained : 0.1;
}

/** The eval report's entry for an attack, or undefined. */
export function referenceOf(evalReport, name) {
  return evalReport?.attacks?.find((a) => a.name === name);
}

/** The attacks a curve runs: the named one, or the worst case's list from the report. */
export function attacksFor(name, info) {
  if (name !== 'worst') return [name];
  return referenceOf(info?.splash?.eval, 'worst')?.of ?? DEFAULT_WORST;
}

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
        line('SPLASH (MNIST test set)', COLORS.splash, true),
        line('ReLU (MNIST test set)', COLORS.relu, true),
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 150 },
      parsing: false,
      scales: {
        x: { type: 'linear', min: 0, max: 0.3, title: { display: true, text: 'ε (L∞, pixels in [0, 1])' } },
        y: { min: 0, max: 1, title: { display: true, text: 'robust accuracy' }, ticks: { callback: (v) => `${Math.round(v * 100)}%` } },
      },
      plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${pct(c.raw.y)}` } } },
    },
  });

  const describe = () => describeChart(chart, { title: 'Robust accuracy against ε', x: (e) => `ε ${e}`, y: (v) => pct(v) });
  describe();
  return {
    /**
     * Reference curves from the eval reports for `attack`: clean accuracy at ε = 0, then
     * the attack's robust accuracy. Returns a sentence saying what is shown.
     */
    setReference(info, source, attack) {
      const notes = [];
      for (const [k, v] of [[2, 'splash'], [3, 'relu']]) {
        const ev = info[v].eval;
        const ref = referenceOf(ev, attack);
        const acc = source === 'transfer' ? ref?.transfer?.accuracy : ref?.white_box_accuracy;
        const name = v === 'splash' ? 'SPLASH' : 'ReLU';
        if (!acc) {
          chart.data.datasets[k].data = [];
          chart.data.datasets[k].label = `${name} (no reference)`;
          continue;
        }
        chart.data.datasets[k].label = `${name} (test set, ${ref.test_digits.toLocaleString('en')} digits${source === 'transfer' ? ', transfer' : ''})`;
        chart.data.datasets[k].data = [{ x: 0, y: ev.clean_accuracy }, ...ref.epsilons.map((e, i) => ({ x: e, y: acc[i] }))];
        notes.push(ref.test_digits);
      }
      // Reports of networks trained for ε = 0.3 reach ε = 0.4: the axis follows them.
      const reach = Math.max(CURVE_EPSILONS.at(-1), ...[2, 3].flatMap((k) => chart.data.datasets[k].data.map((p) => p.x)));
      chart.options.scales.x.max = reach;
      chart.update();
      describe();
      if (!notes.length) {
        return `No reference on the test set for ${LABELS[attack] ?? attack}${source === 'transfer' ? ' as a transfer attack' : ''}.`;
      }
      return `Dashed: ${LABELS[attack] ?? attack} on the first ${Math.min(...notes).toLocaleString('en')} MNIST test digits (splash eval).`;
    },
    /** Live curves: robust counts per ε after `done` digits. */
    setLive(counts, done) {
      for (const [k, v] of [[0, 'splash'], [1, 'relu']]) {
        chart.data.datasets[k].data = done ? CURVE_EPSILONS.map((e, i) => ({ x: e, y: counts[v][i] / done })) : [];
      }
      chart.update();
      describe();
    },
    chart,
  };
}

const at = (ref, eps, transfer = false) => {
  const i = ref?.epsilons?.findIndex((e) => Math.abs(e - eps) < 1e-6) ?? -1;
  const acc = transfer ? ref?.transfer?.accuracy : ref?.white_box_accuracy;
  return i >= 0 && acc ? acc[i] : undefined;
};

/**
 * The verdict, written from the two eval reports' numbers at ε: what SPLASH gains against
 * FGSM, what is left under PGD and the worst case, and what the diagnostics say. Returns
 * null when the reports lack the attacks it needs.
 */
export function verdict(info, eps = 0.1) {
  const s = info.splash.eval;
  const r = info.relu.eval;
  const get = (name) => [at(referenceOf(s, name), eps), at(referenceOf(r, name), eps)];
  const [sf, rf] = get('fgsm');
  // The iterative gradient attack the reports share: PGD-40, or APGD-CE where the report
  // was made with AutoAttack's attacks instead.
  const iterative = referenceOf(s, 'pgd-40') ? 'pgd-40' : 'apgd-ce-100';
  const [sp, rp] = get(iterative);
  const [sw, rw] = get('worst');
  if ([sf, rf, sp, rp].some((v) => v === undefined)) return null;
  const worstDigits = referenceOf(s, 'worst')?.test_digits;
  const both = (a, b) => `SPLASH ${pct(a)}, ReLU ${pct(b)}`;
  const parts = [
    `At ε = ${eps}, one-step FGSM leaves ${both(sf, rf)} of the test digits.`,
    `${iterative === 'pgd-40' ? 'PGD-40' : 'APGD-CE'} leaves ${both(sp, rp)}${sw !== undefined ? `; the worst case of ${referenceOf(s, 'worst').of.length} attacks (on ${worstDigits.toLocaleString('en')} digits) ${both(sw, rw)}` : ''}.`,
  ];
  const strong = sw !== undefined ? [sw, rw] : [sp, rp];
  const fgsmGap = sf - rf;
  const strongGap = strong[0] - strong[1];
  let conclusion;
  if (Math.max(...strong) < 0.05) {
    conclusion = `Under strong attacks neither network is robust at this ε${fgsmGap > 0.02 ? ': the advantage SPLASH shows against FGSM does not survive a stronger attacker' : ''}.`;
  } else if (Math.abs(strongGap) < 0.02) {
    conclusion = 'Under strong attacks the two networks are about equally robust.';
  } else {
    conclusion = `Under strong attacks ${strongGap > 0 ? 'SPLASH' : 'ReLU'} keeps ${(100 * Math.abs(strongGap)).toFixed(1)} percentage points more of the digits (one trained network each).`;
  }
  parts.push(conclusion);
  // A gap can come from training rather than the activation: say so when the clean
  // accuracies differ clearly.
  const [cs, cr] = [s.clean_accuracy, r.clean_accuracy];
  if (Number.isFinite(cs) && Number.isFinite(cr) && Math.abs(cs - cr) > 0.01) {
    parts.push(`Their clean accuracies differ by ${(100 * Math.abs(cs - cr)).toFixed(1)} points (SPLASH ${pct(cs, 2)}, ReLU ${pct(cr, 2)}), so part of any gap may come from how well each trained, not from the activation.`);
  }
  // The smallest budget measured, where clean-trained networks still hold some digits.
  const small = referenceOf(s, 'worst')?.epsilons?.[0];
  if (small !== undefined && small < eps) {
    const [ss, rs] = [at(referenceOf(s, 'worst'), small), at(referenceOf(r, 'worst'), small)];
    parts.push(`At ε = ${small} the worst case leaves ${both(ss, rs)}.`);
  }
  // Networks that hold at ε (adversarially trained ones): how they fare at twice the budget.
  const big = Math.round(2 * eps * 1000) / 1000;
  const worstS = referenceOf(s, 'worst');
  if (Math.min(...strong) > 0.5 && worstS && at(worstS, big) !== undefined) {
    parts.push(`At ε = ${big} the worst case leaves ${both(at(worstS, big), at(referenceOf(r, 'worst'), big))}.`);
  }
  const failing = [];
  for (const [v, ev] of [['SPLASH', s], ['ReLU', r]]) {
    for (const d of ev.diagnostics ?? []) {
      if (d.holds !== false) continue;
      // The budgets where it fails, as the report's detail lists them.
      const at = [...new Set([...(d.detail ?? '').matchAll(/ε = ([\d.]+)/g)].map((m) => m[1]))];
      failing.push(`${v}: the check “${d.check}” fails${at.length ? ` at ε = ${at.join(', ')}` : ''}`);
    }
  }
  const diagnostics = failing.length
    ? `Signs of gradient masking: ${failing.join('; ')}. Where a check fails, the gradient attacks understate what an attacker can do; the worst case, which includes the gradient-free Square Attack, is the figure to trust.`
    : 'No sign of gradient masking: for both networks iterative attacks beat FGSM, white-box beats transfer, the gradient-free Square Attack is not stronger than PGD, and accuracy falls to about zero at the largest ε measured.';
  return { text: `${parts.join(' ')} ${diagnostics}`, numbers: { sf, rf, sp, rp, sw, rw }, iterative, conclusion, masking: failing };
}

/**
 * The spread over training seeds, from a `splash study` results file: the worst case of its
 * strong attacks at each of `epsilons`, mean ± sd over the seeds, for SPLASH and ReLU. One
 * trained network per side (as on this page) can land anywhere in that spread. Null if the
 * study has no strong attacks or fewer than two seeds of either.
 */
export function seedSpread(study, report, epsilons = [0.05, 0.1]) {
  const runs = (act) => (study?.runs ?? []).filter((r) => r.activation === act && Array.isArray(r.worst_case_accuracy));
  const [s, r] = [runs('splash'), runs('relu')];
  if (s.length < 2 || r.length < 2) return null;
  const stat = (rs, k) => {
    const v = rs.map((x) => x.worst_case_accuracy[k]);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
    return `${(100 * m).toFixed(1)} ± ${(100 * sd).toFixed(1)}%`;
  };
  const parts = epsilons
    .map((e) => [e, study.epsilons.findIndex((x) => Math.abs(x - e) < 1e-6)])
    .filter(([, k]) => k >= 0)
    .map(([e, k]) => `at ε = ${e} SPLASH ${stat(s, k)}, ReLU ${stat(r, k)}`);
  if (!parts.length) return null;
  const seeds = Math.min(s.length, r.length);
  return `Between training seeds these numbers move: over ${seeds} seeds of ${study.recipe.epochs}-epoch runs (${report}), the worst case of ${['FGSM', ...study.strong_attacks].join(', ')} on the first ${study.strong_test_digits.toLocaleString('en')} test digits leaves ${parts.join('; ')} (mean ± sd).`;
}

/**
 * What adversarial training changed, from the verdicts of the standard and the
 * adversarially trained pair (either may be null): one sentence, or null.
 */
export function trainingComparison(standard, adversarial, eps = 0.1) {
  if (!standard || !adversarial) return null;
  const strong = (v) => (v.numbers.sw !== undefined ? [v.numbers.sw, v.numbers.rw] : [v.numbers.sp, v.numbers.rp]);
  const [s0, r0] = strong(standard);
  const [s1, r1] = strong(adversarial);
  const what = standard.numbers.sw !== undefined && adversarial.numbers.sw !== undefined ? 'the worst case of the strong attacks' : adversarial.iterative === 'pgd-40' ? 'PGD-40' : 'APGD-CE';
  return `Adversarial training changes what survives ${what} at ε = ${eps} from SPLASH ${pct(s0)}, ReLU ${pct(r0)} to SPLASH ${pct(s1)}, ReLU ${pct(r1)}.`;
}

/** A table of both networks' robust accuracy per attack at a few ε (from the reports). */
export function verdictTable(info, source, epsilons = [0.05, 0.1, 0.2, 0.3]) {
  const s = info.splash.eval;
  const r = info.relu.eval;
  const names = (s?.attacks ?? []).map((a) => a.name);
  const transfer = source === 'transfer';
  const rows = names
    .filter((n) => !transfer || referenceOf(s, n)?.transfer)
    .map((n) => {
      const a = referenceOf(s, n);
      const b = referenceOf(r, n);
      return el('tr', {}, [
        el('th', { scope: 'row', text: `${LABELS[n] ?? n} (${a.test_digits.toLocaleString('en')})` }),
        ...epsilons.flatMap((e) => [at(a, e, transfer), at(b, e, transfer)].map((v, k) => el('td', { class: k ? 'relu' : 'splash', text: v === undefined ? '–' : pct(v) }))),
      ]);
    });
  return el('table', { class: 'verdict-table' }, [
    el('caption', { text: `Robust accuracy on the MNIST test set, ${transfer ? 'transfer (crafted on the other network)' : 'white-box'}; digits in brackets` }),
    el('thead', {}, [
      el('tr', {}, [el('th', { text: 'attack' }), ...epsilons.map((e) => el('th', { colSpan: 2, scope: 'colgroup', text: `ε = ${e}` }))]),
      el('tr', {}, [el('th', {}), ...epsilons.flatMap(() => [el('th', { class: 'splash', text: 'SPLASH' }), el('th', { class: 'relu', text: 'ReLU' })])]),
    ]),
    el('tbody', {}, rows),
  ]);
}
