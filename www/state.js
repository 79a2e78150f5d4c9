// The view's state, mirrored in the URL so that a view can be shared.
import { setOf } from './models.js';
import { CURVE_ATTACKS } from './panels/robustness.js';
import { PIXELS } from './util.js';

/** A 28×28 image in [0, 1] as URL-safe base64 of one byte per pixel (1,045 characters). */
export function encodePixels(pixels) {
  let bin = '';
  for (const v of pixels) bin += String.fromCharCode(Math.round(Math.min(1, Math.max(0, v)) * 255));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The pixels of encodePixels' text, or null if it is not a 28×28 image. */
export function decodePixels(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]+$/.test(text)) return null;
  let bin;
  try {
    bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    return null;
  }
  if (bin.length !== PIXELS) return null;
  return Float32Array.from(bin, (c) => c.charCodeAt(0) / 255);
}

const DEFAULTS = {
  arch: 'lenet5',
  training: 'standard', // or 'adv' / 'adv-0.3': the twins adversarially trained for ε = 0.1 / 0.3
  eps: 0.1,
  method: 'fgsm',
  steps: 10,
  restarts: 1,
  loss: 'ce',
  queries: 1000,
  goal: 'untargeted',
  target: 3,
  source: 'white',
  digit: null, // index of a held-out digit, or null for a drawn one
  drawn: null, // a drawn digit's 28×28 pixels (encodePixels), so a drawing can be shared
  truth: null, // the visitor's label for the drawn digit
  n: 250,
  curve: 'fgsm', // the robustness curve's attack
  workers: null, // workers for the curve (default: one per core); for benchmarks
};

export const N_CHOICES = [100, 250, 500, 1000, 2000];

/** The page's ranges for the attack's whole-number fields (narrower than the core's bounds,
 * which still validate every request). */
export const FIELD_BOUNDS = { steps: [1, 100], restarts: [1, 10], queries: [10, 10000] };

const CHOICES = {
  arch: ['lenet5', 'allcnn'],
  training: ['standard', 'adv', 'adv-0.3'],
  method: ['fgsm', 'bim', 'pgd', 'apgd', 'square'],
  loss: ['ce', 'margin', 'dlr'],
  curve: CURVE_ATTACKS.map(([name]) => name),
  goal: ['untargeted', 'targeted'],
  source: ['white', 'transfer'],
};

export function readState(search = location.search) {
  const q = new URLSearchParams(search);
  const s = { ...DEFAULTS };
  for (const [k, options] of Object.entries(CHOICES)) if (options.includes(q.get(k))) s[k] = q.get(k);
  // All-CNN has no ε = 0.3 twins: such a link shows its ε = 0.1 ones.
  if (!setOf(s.arch, s.training)) s.training = 'adv';
  const num = (k, lo, hi, int) => {
    const raw = q.get(k);
    if (raw === null || raw === '') return;
    const v = Number(raw);
    if (Number.isFinite(v) && v >= lo && v <= hi && (!int || Number.isInteger(v))) s[k] = v;
  };
  num('eps', 0, 0.5, false);
  for (const [k, [lo, hi]] of Object.entries(FIELD_BOUNDS)) num(k, lo, hi, true);
  num('target', 0, 9, true);
  num('digit', 0, 1e6, true);
  num('n', 1, 2000, true);
  // The digits selector offers these counts; another value snaps to the nearest one.
  s.n = N_CHOICES.reduce((best, c) => (Math.abs(c - s.n) < Math.abs(best - s.n) ? c : best));
  num('workers', 1, 8, true);
  num('truth', 0, 9, true);
  const drawn = q.get('drawn');
  if (drawn && decodePixels(drawn)) s.drawn = drawn;
  if (s.digit !== null || s.drawn === null) s.truth = null;
  if (s.digit !== null) s.drawn = null;
  return s;
}

export function writeState(s) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(s)) {
    if (v === null || v === undefined || v === DEFAULTS[k]) continue;
    q.set(k, String(v));
  }
  const query = q.toString();
  history.replaceState(null, '', query ? `?${query}` : location.pathname);
}

/** The pair of networks the page shows: 'lenet5', 'allcnn', either with '-adv' for the twins
 * adversarially trained for ε = 0.1, or 'lenet5-adv-0.3' (the worker's name for it). An
 * architecture without the chosen training falls back to its ε = 0.1 twins. */
export function modelSet(s) {
  return setOf(s.arch, s.training) ?? setOf(s.arch, 'adv') ?? s.arch;
}
