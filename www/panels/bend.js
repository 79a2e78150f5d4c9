// Panel 5, "Bend a curve": sliders for one SPLASH layer's a⁺ and a⁻. The page runs a copy
// of the network with those slopes (worker `bend`) and says what it answers on the digit
// and under the current attack.
import { el } from '../util.js';

const NAMES = ['a⁺₀', 'a⁺₁', 'a⁺₂', 'a⁺₃', 'a⁻₀', 'a⁻₁', 'a⁻₂', 'a⁻₃'];
/** The sliders span ±3, or more where a learned coefficient is larger (the ε = 0.3
 * LeNet5-SPLASH learned ±6.1), up to the core's bound for a bent coefficient. */
const MIN_RANGE = 3;
const RELU = [1, 0, 0, 0, 0, 0, 0, 0];

export function createBend(root, { onChange }) {
  let RANGE = MIN_RANGE;
  let maxCoefficient = Infinity; // the core's bound, once the worker has said it
  /** The slider range for these learned coefficients: never narrower than they are. */
  const rangeFor = (coefficients) => Math.min(maxCoefficient, Math.max(MIN_RANGE, Math.ceil(Math.max(...coefficients.flat().map(Math.abs)))));
  const select = root.querySelector('#bend-layer');
  const sliders = root.querySelector('#bend-sliders');
  const result = root.querySelector('#bend-result');
  let learned = [];
  let values = [];

  const layer = () => Number(select.value);
  const render = () => {
    sliders.replaceChildren(
      ...values.map((v, k) => {
        const out = el('output', { text: v.toFixed(2) });
        const input = el('input', { type: 'range', min: String(-RANGE), max: String(RANGE), step: '0.01', value: String(v), 'aria-label': `${NAMES[k]} of the bent layer` });
        input.addEventListener('input', () => {
          values[k] = Number(input.value);
          out.textContent = values[k].toFixed(2);
          onChange();
        });
        return el('label', { class: 'bend-slider' }, [el('span', { text: NAMES[k] }), input, out]);
      }),
    );
  };
  const reset = (to) => {
    values = Array.from(to).map((v) => Math.max(-RANGE, Math.min(RANGE, v)));
    render();
    onChange();
  };
  select.addEventListener('change', () => reset(learned[layer()]));
  root.querySelector('#bend-reset').addEventListener('click', () => reset(learned[layer()]));
  root.querySelector('#bend-relu').addEventListener('click', () => reset(RELU));

  return {
    /** The SPLASH network's description (layers, learned coefficients). */
    setModel(info) {
      learned = info.coefficients.map((c) => Array.from(c));
      RANGE = rangeFor(learned);
      select.replaceChildren(...info.layers.map((name, i) => el('option', { value: String(i), text: name })));
      values = learned[0].slice().map((v) => Math.max(-RANGE, Math.min(RANGE, v)));
      render();
    },
    /** The core's bound on a bent coefficient (modelConstants). */
    setLimit(limit) {
      maxCoefficient = limit;
      if (learned.length) {
        RANGE = rangeFor(learned);
        render();
      }
    },
    /** The layer being bent and its eight coefficients (a⁺ then a⁻). */
    current: () => ({ layer: layer(), coefficients: values.slice() }),
    /** Whether the sliders differ from the learned curve. */
    bent: () => learned.length > 0 && values.some((v, k) => Math.abs(v - learned[layer()][k]) > 1e-6),
    say(text, placeholder = false) {
      result.textContent = text;
      result.classList.toggle('placeholder', placeholder);
    },
  };
}
