// Prints the Markdown tables of measured results from www/models/*.eval.json (for README.md):
// clean and white-box FGSM accuracy, then transfer FGSM accuracy.
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'www', 'models');
const models = ['lenet5-relu', 'lenet5-splash', 'allcnn-relu', 'allcnn-splash'];
const p = (v) => (100 * v).toFixed(2);
const reports = models.filter((m) => existsSync(join(dir, `${m}.eval.json`))).map((m) => JSON.parse(readFileSync(join(dir, `${m}.eval.json`), 'utf8')));
if (reports.length === 0) throw new Error('no eval reports in www/models');
const eps = reports[0].epsilons.map((x) => `ε=${x}`);
console.log(`| model | clean | ${eps.map((x) => `white-box ${x}`).join(' | ')} |`);
console.log(`|${'---|'.repeat(2 + eps.length)}`);
for (const e of reports) console.log(`| ${e.model} | ${p(e.clean_accuracy)} | ${e.white_box_accuracy.map(p).join(' | ')} |`);
console.log('');
console.log(`| model | crafted on | ${eps.map((x) => `transfer ${x}`).join(' | ')} |`);
console.log(`|${'---|'.repeat(2 + eps.length)}`);
for (const e of reports) if (e.transfer) console.log(`| ${e.model} | ${e.transfer.source} | ${e.transfer.accuracy.map(p).join(' | ')} |`);
