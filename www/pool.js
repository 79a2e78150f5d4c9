// Spreads a robustness curve over one worker per core (the page's own worker is one of
// them), each with its own WebAssembly instance. Chunks of digits are handed out as workers
// free up, so cancelling stops a run once the chunks in flight return.
import { Engine } from './client.js';

/** Workers a curve uses: one per logical core the browser reports, at most eight. */
export function poolSize() {
  return Math.max(1, Math.min(8, navigator.hardwareConcurrency || 2));
}

export class Pool {
  constructor(primary, onFatal) {
    this.engines = [primary];
    this.onFatal = onFatal;
  }

  /**
   * Runs `robustChunk` for every job (its arguments without `arch`) on `size` workers, each
   * given the models by the `load` request `load` (the worker's load arguments), and
   * calls `onResult(job, result)` as each returns. Resolves when all are done or, after
   * `run.cancel()`, when the chunks in flight have returned; says which.
   */
  run({ load, jobs, size = poolSize(), onResult }) {
    const { arch } = load;
    while (this.engines.length < size) this.engines.push(new Engine(this.onFatal));
    let next = 0;
    let cancelled = false;
    const worker = async (engine) => {
      await engine.call('load', load);
      while (!cancelled && next < jobs.length) {
        const job = jobs[next++];
        const result = await engine.call('robustChunk', { arch, ...job });
        if (!cancelled) onResult(job, result);
      }
    };
    const done = Promise.all(this.engines.slice(0, size).map(worker)).then(() => ({ cancelled }));
    done.cancel = () => {
      cancelled = true;
    };
    done.workers = size;
    return done;
  }
}
