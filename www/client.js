// Talks to worker.js with small request/response messages.
export class Engine {
  constructor(onFatal) {
    this.pending = new Map();
    this.nextId = 1;
    // The page's ?wasm= (wasm-build.js) goes on to the worker, which picks the build.
    const url = new URL('./worker.js', import.meta.url);
    const asked = new URLSearchParams(globalThis.location?.search ?? '').get('wasm');
    if (asked) url.searchParams.set('wasm', asked);
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
      for (const job of this.pending.values()) job.reject(err);
      this.pending.clear();
      onFatal?.(err);
    };
  }

  /** Sends a request; resolves with its result. `transfer` lists buffers to move. */
  call(type, args = {}, { transfer = [] } = {}) {
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
    });
    this.worker.postMessage({ id, type, ...args }, transfer);
    return promise;
  }
}
