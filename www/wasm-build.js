// Which WebAssembly build of the core this browser runs. scripts/build.sh makes two from the
// same source, driven by the same JS glue (pkg/splash.js): pkg/splash_relaxed_bg.wasm, whose
// matrix kernels use relaxed SIMD's fused multiply-add, and pkg/splash_bg.wasm with plain
// SIMD (its products round twice, like the native build, which repeats it bit for bit).
// The relaxed build is used where the engine validates relaxed SIMD; `?wasm=simd128` in the
// page's address forces the plain one. The training worker always runs the plain build.

// A module with one function: f32x4.relaxed_madd of its three v128 parameters.
const PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11,
]);

/** Whether this engine runs relaxed SIMD. */
export const RELAXED_SIMD = (() => {
  try {
    return WebAssembly.validate(PROBE);
  } catch {
    return false;
  }
})();

/** The two builds: name, file in pkg/ (as scripts/build.sh writes it), description. */
export const BUILDS = {
  relaxed: { name: 'relaxed-simd', file: 'splash_relaxed_bg.wasm', description: 'relaxed SIMD (fused multiply-add)' },
  plain: { name: 'simd128', file: 'splash_bg.wasm', description: 'SIMD' },
};

/** The build to load for a page whose query string is `search` (one of BUILDS). */
export function wasmBuild(search = '') {
  const asked = new URLSearchParams(search).get('wasm');
  return RELAXED_SIMD && asked !== BUILDS.plain.name ? BUILDS.relaxed : BUILDS.plain;
}
