// One worker of the benchmark page's threaded splash rows (bench.js, ?isolated): the page's
// WebAssembly build and one network, fed through shared memory. The first message,
// {weights: ArrayBuffer, build, pixels, control: SharedArrayBuffer, input:
// SharedArrayBuffer, output: SharedArrayBuffer}, loads the network and is answered {ok: true} (or
// {ok: false, error}); the worker then sleeps in Atomics.wait on control[0] and serves
// requests without messages: GO with control[1] images in `input` → their probabilities in
// `output`, then DONE (or FAILED, with the message posted). See sharedPool in bench.js.
import init, { Network } from '../pkg/splash.js';
import { DONE, FAILED, GO, IDLE } from './bench-pool.js';

self.onmessage = async ({ data }) => {
  let net;
  try {
    await init({ module_or_path: new URL(`../pkg/${data.build}`, import.meta.url) });
    net = new Network(new Uint8Array(data.weights));
  } catch (e) {
    self.postMessage({ ok: false, error: e.message || String(e) });
    return;
  }
  self.postMessage({ ok: true });
  const control = new Int32Array(data.control);
  const input = new Float32Array(data.input);
  const output = new Float32Array(data.output);
  const { pixels } = data;
  for (;;) {
    Atomics.wait(control, 0, IDLE);
    if (Atomics.load(control, 0) !== GO) continue;
    const n = Atomics.load(control, 1);
    let state = DONE;
    try {
      output.set(net.predict(input.subarray(0, n * pixels)));
    } catch (e) {
      state = FAILED;
      self.postMessage({ ok: false, error: e.message || String(e) });
    }
    Atomics.store(control, 0, state);
    Atomics.notify(control, 0);
  }
};
