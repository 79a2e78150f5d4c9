// Turns wasm-pack's output in pkg/ into the npm package `splash-wasm`: its README for web
// developers (npm/README.md, in place of the crate's, which is the repository's user manual),
// the license, and the package.json fields wasm-pack does not write.
// Usage: node scripts/package.mjs   (after `wasm-pack build --out-dir pkg`, as scripts/build.sh does)
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = join(root, 'pkg');
const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8'));
if (!manifest.types || !manifest.files?.includes(manifest.types)) {
  throw new Error(`pkg/package.json has no types file among its files: ${JSON.stringify(manifest)}`);
}
copyFileSync(join(root, 'npm', 'README.md'), join(pkg, 'README.md'));
copyFileSync(join(root, 'LICENSE'), join(pkg, 'LICENSE'));
const out = {
  ...manifest,
  name: 'splash-wasm',
  description: 'SPLASH learnable activations and small MNIST networks in WebAssembly: predict, attack (FGSM, PGD, APGD, Square), read the curves, train.',
  keywords: ['splash', 'activation-functions', 'adversarial-robustness', 'mnist', 'webassembly', 'neural-network'],
  files: [...new Set([...manifest.files, 'README.md', 'LICENSE'])],
  exports: { '.': { types: `./${manifest.types}`, default: `./${manifest.main}` }, './splash_bg.wasm': './splash_bg.wasm' },
};
const tmp = join(pkg, 'package.json.tmp');
writeFileSync(tmp, `${JSON.stringify(out, null, 2)}\n`);
renameSync(tmp, join(pkg, 'package.json'));
console.log(`pkg/: npm package ${out.name}@${out.version} (types ${out.types})`);
