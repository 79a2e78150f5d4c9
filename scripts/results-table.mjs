// Prints the Markdown table of measured results from www/models/*.eval.json (for README.md).
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'www', 'models');
const models = ['lenet5-relu', 'lenet5-splash', 'allcnn-relu', 'allcnn-splash'];
const p = (v) => (100 * v).toFixed(2);
let header = null;
for (const m of models) {
  const f = join(dir, `${m}.eval.json`);
  if (!existsSync(f)) {
    console.log(`| ${m} | (no eval report) |`);
    continue;
  }
  const e = JSON.parse(readFileSync(f, 'utf8'));
  if (!header) {
    const eps = e.epsilons.map((x) => `ε=${x}`);
    header = `| model | clean | ${eps.map((x) => `white-box ${x}`).join(' | ')} | ${eps.map((x) => `transfer ${x}`).join(' | ')} |`;
    console.log(header);
    console.log(`|${'---|'.repeat(2 + 2 * eps.length)}`);
  }
  console.log(`| ${m} | ${p(e.clean_accuracy)} | ${e.white_box_accuracy.map(p).join(' | ')} | ${(e.transfer?.accuracy ?? []).map(p).join(' | ')} |`);
}
