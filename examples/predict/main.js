// The package in a page of its own: load a committed SPLASH network, classify a digit,
// attack it with one FGSM step and classify it again. `../../pkg/` is the npm package
// `splash-wasm` as scripts/build.sh writes it; after `npm install`, import 'splash-wasm'.
import init, { Network, modelConstants } from '../../pkg/splash.js';

const out = document.getElementById('out');
const say = (line) => (out.textContent += `${line}\n`);
const top = (p) => p.indexOf(Math.max(...p));

try {
  out.textContent = '';
  await init();
  const response = await fetch('../../www/models/lenet5-splash.safetensors');
  const net = new Network(new Uint8Array(await response.arrayBuffer()));
  say(`loaded ${net.name()}: ${net.activationLayerCount()} SPLASH layers, test accuracy ${(100 * net.config().test_accuracy).toFixed(2)} %`);

  // A crude "1": a vertical bar in the middle of a 28×28 image, pixels in [0, 1].
  const side = Math.sqrt(modelConstants().pixels);
  const digit = new Float32Array(side * side);
  for (let y = 5; y < 23; y++) digit[y * side + 14] = digit[y * side + 13] = 1;

  const clean = Array.from(net.predict(digit));
  say(`clean: ${top(clean)} (p = ${Math.max(...clean).toFixed(3)})`);

  const attack = { method: 'fgsm', epsilon: 0.2 };
  const result = net.attack(digit, Uint32Array.of(top(clean)), false, attack);
  const attacked = Array.from(net.predict(result.adversarial));
  result.free();
  say(`after FGSM at ε = ${attack.epsilon}: ${top(attacked)} (p = ${Math.max(...attacked).toFixed(3)})`);
  net.free();
  globalThis.__example = { clean, attacked };
} catch (e) {
  say(`error: ${e.message}`);
  globalThis.__example = { error: e.message };
}
