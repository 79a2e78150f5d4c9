// The first thing the page runs (index.html loads it before main.js): it starts the inference
// worker, naming the networks the page will show first, so that the module compiles and
// their files download while main.js's larger module graph is still arriving and its panels
// are being built. main.js takes the engine from here.
import { Engine } from './client.js';
import { modelSet, readState } from './state.js';

// The worker starts loading them by itself (a message would wait for this thread, which
// main.js keeps busy for a few hundred ms); main.js's loadModels asks for the same load
// and waits for it, or reports its error.
export const engine = new Engine(null, modelSet(readState()));
