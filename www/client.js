// Talks to worker.js with small request/response messages.
export class Engine {
  /** `onFatal(err)` hears of a worker that stopped; it may also be set later (`onFatal`),
   * and then hears at once of a failure that came before. `firstSet`, a model set
   * (models.js), is loaded by the worker as soon as it starts, before any message reaches
   * it (the page's messages wait in Chromium until the page's own thread is free). */
  constructor(onFatal = null, firstSet = null) {
    this.pending = new Map();
    this.nextId = 1;
    this.failure = null;
    this.fatal = onFatal;
    // The page's ?wasm= (wasm-build.js) goes on to the worker, which picks the build.
    const url = new URL('./worker.js', import.meta.url);
    const asked = new URLSearchParams(globalThis.location?.search ?? '').get('wasm');
    if (asked) url.searchParams.set('wasm', asked);
    if (firstSet) url.searchParams.set('set', firstSet);
    this.worker = new Worker(url, { type: 'module' });
    this.worker.onmessage = ({ data }) => {
      const job = this.pending.get(data.id);
      if (!job) return;
      this.pending.delete(data.id);
      if (data.ok) job.resolve(data.result);
      else job.reject(new Error(data.error));
    };
    this.worker.onerror = (e) => {
      const err = new Error(`the inference worker failed: ${e.message || 'could not start (is pkg/ built?)'}`);
      this.failure = err;
      for (const job of this.pending.values()) job.reject(err);
      this.pending.clear();
      this.fatal?.(err);
    };
  }

  set onFatal(handler) {
    this.fatal = handler;
    if (this.failure) handler?.(this.failure);
  }

  /** Sends a request; resolves with its result (rejects at once if the worker has stopped).
   * `transfer` lists buffers to move. */
  call(type, args = {}, { transfer = [] } = {}) {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
    });
    this.worker.postMessage({ id, type, ...args }, transfer);
    return promise;
  }
}
