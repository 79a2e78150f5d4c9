// The states of a benchmark worker's control word (control[0] of its SharedArrayBuffer),
// shared by the page's side (bench.js, sharedPool) and the worker's (bench-worker.js):
// the page sets GO once the images are in place; the worker answers DONE or FAILED; the
// page sets IDLE again once it has read the answer.
export const IDLE = 0;
export const GO = 1;
export const DONE = 2;
export const FAILED = 3;
