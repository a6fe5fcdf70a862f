#!/usr/bin/env node
// Builds the dashboard (web/) into dist/web: one ES module bundle (preact) plus a lazily
// loaded chunk for the charts (uPlot), one stylesheet, an index.html that names the hashed
// files, and gzip and brotli copies of each so the server sends them precompressed.
// dist/web/manifest.json lists every file with its sizes; the first view's total is printed.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const out = 'dist/web';
await rm(out, { recursive: true, force: true });
await mkdir(join(out, 'assets'), { recursive: true });

const result = await build({
  entryPoints: ['web/src/main.tsx'],
  bundle: true,
  splitting: true,
  format: 'esm',
  minify: true,
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.entries(result.metafile.outputs);
const entry = outputs.find(([, o]) => o.entryPoint === 'web/src/main.tsx');
if (!entry) throw new Error('build-web: no entry output');
const js = `/assets/${basename(entry[0])}`;
const css = entry[1].cssBundle ? `/assets/${basename(entry[1].cssBundle)}` : undefined;
// What the first view loads: the page, its script with the chunks it imports statically, its stylesheet.
const firstView = new Set(['/', js, ...(css ? [css] : [])]);
for (const imp of entry[1].imports) {
  if (imp.kind === 'import-statement') firstView.add(`/assets/${basename(imp.path)}`);
}

const template = await readFile('web/index.html', 'utf8');
const html = template
  .replace('<!--STYLES-->', css ? `<link rel="stylesheet" href="${css}">` : '')
  .replace('<!--SCRIPTS-->', `<script type="module" src="${js}"></script>`);
await writeFile(join(out, 'index.html'), html);

const files = { '/': 'index.html' };
for (const [path] of outputs) files[`/assets/${basename(path)}`] = `assets/${basename(path)}`;

const manifest = { files: {}, firstView: { files: [...firstView], raw: 0, gzip: 0, br: 0 } };
for (const [url, rel] of Object.entries(files)) {
  const body = await readFile(join(out, rel));
  const gz = gzipSync(body, { level: 9 });
  const br = brotliCompressSync(body, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
  });
  await writeFile(join(out, `${rel}.gz`), gz);
  await writeFile(join(out, `${rel}.br`), br);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  manifest.files[url] = { path: rel, raw: body.length, gzip: gz.length, br: br.length, etag };
  if (firstView.has(url)) {
    manifest.firstView.raw += body.length;
    manifest.firstView.gzip += gz.length;
    manifest.firstView.br += br.length;
  }
}
await writeFile(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const f = manifest.firstView;
console.log(
  `dashboard built in ${out}: first view ${kib(f.raw)} raw, ${kib(f.gzip)} gzip, ${kib(f.br)} brotli (${Object.keys(manifest.files).length} files)`,
);
