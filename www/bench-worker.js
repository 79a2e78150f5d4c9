// One worker of the benchmark page's splash pool (bench.js, threaded rows): the page's
// WebAssembly build and one network. Messages in: {weights: ArrayBuffer, build} to load,
// {pixels: Float32Array} to predict; out: {ok: true} or {ok: false, error}.
import init, { Network } from './pkg/splash.js';

let net = null;
self.onmessage = async ({ data }) => {
  try {
    if (data.weights) {
      await init({ module_or_path: new URL(`./pkg/${data.build}`, import.meta.url) });
      net = new Network(new Uint8Array(data.weights));
    } else {
      net.predict(data.pixels);
    }
    self.postMessage({ ok: true });
  } catch (e) {
    self.postMessage({ ok: false, error: e.message || String(e) });
  }
};
