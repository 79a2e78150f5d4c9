// A small static server for www/ on 127.0.0.1, with the page's security headers; /bench/ is
// the benchmark page (bench/, not part of the shipped site).
// Usage: node scripts/serve.mjs [--port N]   (0 picks a free port; the URL is printed)
import { createServer } from 'node:http';
import { readFile, realpath, stat } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = await realpath(join(repo, 'www'));
// URL paths under bench/ come from the benchmark's own folder; everything else from www/.
const benchRoot = await realpath(join(repo, 'bench'));
const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1] ?? 8080) || (args.includes('--port') ? 0 : 8080);
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.bin': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
};
// Each page's Content-Security-Policy is written once, in its <meta> tag (all a static host
// serves); the server sends the same policy as a header, plus frame-ancestors, which a <meta>
// cannot set. (The benchmark page's policy allows 'unsafe-eval': TF.js, the peer it measures
// against, evaluates strings as code; the demo's does not.)
async function pageCsp(file) {
  const html = await readFile(file, 'utf8');
  const m = html.match(/http-equiv="Content-Security-Policy" content="([^"]+)"/);
  if (!m) throw new Error(`${file} has no Content-Security-Policy <meta> tag`);
  return `${m[1]}; frame-ancestors 'none'`;
}
const CSP = await pageCsp(join(root, 'index.html'));
const BENCH_PAGE = 'bench/bench.html';
const BENCH_CSP = await pageCsp(join(benchRoot, 'bench.html'));

const SECURITY = { 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': CSP, 'Referrer-Policy': 'no-referrer' };
// Worth compressing: text, WebAssembly and the weights (f32 tensors shrink by ~10 %).
const COMPRESS = new Set(['.html', '.js', '.mjs', '.css', '.json', '.wasm', '.svg', '.bin', '.safetensors']);
const gzCache = new Map(); // file -> {mtimeMs, body}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The file that a URL path names, under bench/ for bench/… and under www/ otherwise
 * (symlinks resolved and kept inside that folder). */
async function resolve(pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    throw new HttpError(400, 'bad request: malformed URL\n');
  }
  if (decoded.includes('\0')) throw new HttpError(400, 'bad request\n');
  let path = normalize(decoded).replace(/^([/\\])+/, '');
  if (path === '' || path.endsWith(sep)) path = join(path, 'index.html');
  const [base, rest] = path.startsWith(`bench${sep}`) ? [benchRoot, path.slice('bench'.length + 1)] : [root, path];
  let file;
  try {
    file = await realpath(join(base, rest));
  } catch {
    throw new HttpError(404, 'not found\n');
  }
  if (file !== base && !file.startsWith(base + sep)) throw new HttpError(404, 'not found\n');
  const info = await stat(file);
  if (!info.isFile()) throw new HttpError(404, 'not found\n');
  return { file, path, info };
}

const server = createServer(async (req, res) => {
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...SECURITY, Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    const url = new URL(req.url, 'http://127.0.0.1');
    const { file, path, info } = await resolve(url.pathname);
    let body = await readFile(file);
    const headers = {
      ...SECURITY,
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Security-Policy': path === BENCH_PAGE ? BENCH_CSP : CSP,
      'Cache-Control': 'no-cache',
      Vary: 'Accept-Encoding',
    };
    // Cross-origin isolation, so that SharedArrayBuffer exists and TF.js's wasm backend can
    // run threads: the benchmark page asks for it with ?isolated (bench.js's threaded rows).
    // Scripts and workers carry COEP always (an isolated page's workers need it; a page that
    // is not isolated ignores it).
    if (path === BENCH_PAGE && url.searchParams.has('isolated')) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    } else if (extname(file) !== '.html') {
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    if (COMPRESS.has(extname(file)) && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
      let hit = gzCache.get(file);
      if (!hit || hit.mtimeMs !== info.mtimeMs) {
        hit = { mtimeMs: info.mtimeMs, body: gzipSync(body, { level: 6 }) };
        gzCache.set(file, hit);
      }
      body = hit.body;
      headers['Content-Encoding'] = 'gzip';
    }
    headers['Content-Length'] = String(body.length);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch (e) {
    const status = e instanceof HttpError ? e.status : e.code === 'ENOENT' || e.code === 'ENOTDIR' ? 404 : e.code === 'ENAMETOOLONG' ? 414 : 500;
    res.writeHead(status, { ...SECURITY, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : e instanceof HttpError ? e.message : status === 404 ? 'not found\n' : status === 414 ? 'URL too long\n' : 'server error\n');
  }
});
server.listen(port, '127.0.0.1', () => {
  console.log(`splash demo: http://127.0.0.1:${server.address().port}/`);
});
