// Fuzzes the WebAssembly API as the page's workers call it, in Node: thousands of seeded calls
// with bad sizes, NaN, out-of-range settings, settings objects of the wrong shape (unknown
// fields, wrong types, not an object at all) and corrupt weights. Each must
// return or throw an Error with a message; none may trap or panic, and the Network must stay
// usable (the same predictions before and after).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';
import init, { Network, Training, attackLimits, describeAttack, parseAttack, preprocessCanvas } from '../../www/pkg-train/splash.js';

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('seeded calls into the wasm API give results or clear errors, never a trap or a panic', async () => {
  await init({ module_or_path: readFileSync(join(ROOT, 'www', 'pkg-train', 'splash_bg.wasm')) });
  const panics = [];
  const consoleError = console.error;
  console.error = (...a) => panics.push(a.join(' '));
  try {
    const bytes = readFileSync(join(ROOT, 'www', 'models', 'lenet5-splash.safetensors'));
    const net = new Network(bytes);
    const r = rng(20261129);
    const pick = (xs) => xs[Math.floor(r() * xs.length)];
    const good = Float32Array.from({ length: 784 }, (_, i) => ((i * 37) % 11) / 10);
    const baseline = Array.from(net.predict(good));
    const weird = [0, 0.5, 1, -1, 2, NaN, Infinity, -Infinity, 1e30, -0];
    const pixels = () => {
      const n = pick([0, 1, 783, 784, 784, 784, 1568, 785]);
      return Float32Array.from({ length: n }, () => (r() < 0.02 ? pick(weird) : r()));
    };
    const spec = () => {
      const s = { method: pick(['fgsm', 'bim', 'pgd', 'square', 'cw', '', 7]), epsilon: pick([0, 0.05, 0.1, 0.5, 0.51, -0.1, 2, null, 'x']) };
      if (r() < 0.5) s.steps = pick([1, 2, 3, 0, -1, 1e9, 2.5]);
      if (r() < 0.3) s.restarts = pick([1, 2, 0, 1e6]);
      if (r() < 0.3) s.queries = pick([10, 50, 0, 1e9]);
      if (r() < 0.3) s.loss = pick(['ce', 'margin', 'hinge']);
      if (r() < 0.2) s.step_size = pick([0.01, 0, -1, 10]);
      if (r() < 0.1) s.unknown = 1;
      if (r() < 0.05) s.steps = undefined;
      // Now and then not an object at all, or one in the wrong shape.
      return r() < 0.1 ? pick([JSON.stringify(s), null, undefined, 7, [s], { method: { pgd: 1 } }]) : s;
    };
    const classes = () => Uint32Array.from({ length: pick([0, 1, 1, 1, 2]) }, () => pick([0, 3, 9, 10, 4294967295]));
    const calls = [
      () => net.predict(pixels()),
      () => net.attack(pixels(), classes(), r() < 0.5, spec()).free(),
      () => net.robustness(pixels(), classes(), spec(), Float32Array.from({ length: pick([0, 1, 3, 70000]) }, () => pick([0, 0.1, -1, NaN, 0.3]))).free(),
      () => net.breakingPoint(pixels(), pick([0, 3, 10]), spec(), pick([0.5, 0, -1, NaN, 5]), pick([0.01, 0, -1, NaN])),
      () => net.curve(pick([0, 3, 4, 1e6]), Float32Array.from({ length: pick([0, 5]) }, () => pick(weird))),
      () => net.coefficients(pick([0, 3, 4, 99])),
      () => net.setCoefficients(pick([0, 3, 4]), Float32Array.from({ length: pick([7, 8, 9]) }, () => pick([0, 1, -1, 11, NaN]))),
      () => net.perturbationTrace(pixels(), pixels()),
      () => net.accuracy(Uint8Array.from({ length: pick([0, 784, 1568, 700]) }, () => 255 * r()), Uint8Array.from({ length: pick([0, 1, 2]) }, () => pick([1, 9, 10]))),
      () => net.preActivations(pick([0, 3, 4])),
      () => preprocessCanvas(new Uint8Array(pick([0, 16, 4 * 28 * 28, 4 * 280 * 280])).map(() => (r() < 0.05 ? 255 : 0)), pick([0, 2, 28, 280, 1e9]), pick([0, 2, 28, 280])),
      () => describeAttack(spec()),
      () => parseAttack(pick(['pgd-40-r5-margin', 'pgd--1', 'square-1000', 'fgsm', 'pgd-99999999999', ''])),
      () => {
        const n = pick([0, 16, 17]);
        const t = new Training(
          { epochs: pick([1, 0, 20000]), batch_size: pick([8, 0, 5000]), learning_rate: pick([0.05, 0, -1, 11]), seed: pick([1, -1, 0.5]), augment: r() < 0.5 ? r() < 0.5 : 'yes', adversarial: r() < 0.3 ? { kind: pick(['pgd', 'fgsm-rs', 'cw']), epsilon: pick([0.1, 2]), steps: 1 } : null },
          pick(['splash', 'relu', 'nope']),
          r() < 0.2 ? bytes.subarray(0, pick([0, 100, bytes.length])) : new Uint8Array(0),
          new Uint8Array(n * 784),
          Uint8Array.from({ length: pick([n, n + 1]) }, () => pick([0, 5, 10])),
        );
        try {
          t.step(pick([1, 3]));
          t.finishEpoch(0);
        } finally {
          t.free();
        }
      },
      () => {
        const b = Uint8Array.from(bytes);
        for (let k = 0; k < 4; k++) b[Math.floor(r() * Math.min(b.length, 600))] = Math.floor(r() * 256);
        new Network(r() < 0.3 ? b.subarray(0, Math.floor(r() * b.length)) : b).free();
      },
    ];
    let errors = 0;
    for (let i = 0; i < 3000; i++) {
      try {
        pick(calls)();
      } catch (e) {
        assert.ok(!(e instanceof WebAssembly.RuntimeError), `call ${i} trapped: ${e.message}`);
        assert.ok(e instanceof Error && e.message.length > 0, `call ${i} threw ${e}`);
        errors++;
      }
      assert.deepEqual(panics, [], `call ${i} panicked`);
      if (i % 100 === 0) {
        // setCoefficients may have bent the network: restore, then it must predict as before.
        const fresh = new Network(bytes);
        for (let l = 0; l < 4; l++) net.setCoefficients(l, Float32Array.from(fresh.coefficients(l)));
        fresh.free();
        assert.deepEqual(Array.from(net.predict(good)), baseline, `the network changed or broke by call ${i}`);
      }
    }
    assert.ok(errors > 500, `only ${errors} of 3000 calls were refused: the generator is too tame`);
    const limits = attackLimits();
    assert.equal(limits.defaults.epsilon, 0.1, 'f32 settings read as their shortest decimals');
    assert.equal(typeof limits.max_steps, 'number');
  } finally {
    console.error = consoleError;
  }
});
