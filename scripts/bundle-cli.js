#!/usr/bin/env node
// Bundles the compiled CLI (dist/src) into dist/bundle, which bin/lifeboat.js runs: about 150
// files, of which a command loads a few dozen, instead of some 470 modules (ours, zod's,
// yaml's, commander's) resolved and compiled one by one at every start (docs/performance.md, "Start-up"). Commands still load
// what only they use: each dynamic import is a chunk of its own. The other packages stay in
// node_modules (native addons, and libraries that find files or workers next to their own code).
// The seal worker is an entry of its own, next to the chunks, where the pool starts it from.
// dist/bundle/meta.json says which modules each file holds (the start-up test reads it).
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

const out = 'dist/bundle';
const BUNDLED = new Set(['zod', 'yaml', 'commander']);

const pkg = JSON.parse(await readFile('package.json', 'utf8'));
const external = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })
  .filter((name) => !BUNDLED.has(name))
  .flatMap((name) => [name, `${name}/*`]);

await rm(out, { recursive: true, force: true });
const result = await build({
  entryPoints: ['dist/src/cli/main.js', 'dist/src/repo/seal-worker.js'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: ['node20'],
  outdir: out,
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  external,
  // The CommonJS packages bundled (commander, yaml) require Node's built-ins.
  banner: {
    js: "import { createRequire as lifeboatRequire } from 'node:module'; const require = lifeboatRequire(import.meta.url);",
  },
  metafile: true,
  logLevel: 'warning',
});
await writeFile(join(out, 'meta.json'), JSON.stringify(result.metafile));
