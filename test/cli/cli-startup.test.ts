/**
 * @module test/cli/cli-startup
 * What a command loads at start: `--version`, `--help` and `snapshots` on a local repository
 * load no SDK, no server, no catalog, no native addon they do not use, and no zod (only what
 * checks settings loads the schemas). The real CLI runs with a preload that records every
 * module it resolves (ESM), every CommonJS module in the require cache and every native addon
 * it opens; `jobs` (the catalog, better-sqlite3) and a command given a config file (YAML and
 * zod) show that the recorder sees what is loaded. The command runs the bundle
 * (scripts/bundle-cli.js): a file of it loaded counts as every module it holds.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BIN, lifeboat, repoEnv, tempDir } from '../helpers/cli.js';

/** Packages and folders no read-only command on a local repository needs. */
const HEAVY = [
  '/node_modules/@aws-sdk/',
  '/node_modules/@azure/',
  '/node_modules/ssh2/',
  '/node_modules/ssh2-sftp-client/',
  '/node_modules/fastify/',
  '/node_modules/pg/',
  '/node_modules/mysql2/',
  '/node_modules/mongodb/',
  '/node_modules/better-sqlite3/',
  '/node_modules/lmdb/',
  '/node_modules/nodemailer/',
  '/node_modules/pino/',
  '/dist/src/server/routes/',
  '/dist/src/catalog/catalog.js',
  // The settings schemas: for a config file, CLI flags that make a source, a source to build.
  '/node_modules/zod/',
];

const HOOKS = `import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(out, r.url + '\\n');
  return r;
}
`;

const PRELOAD = `import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
const out = process.env.LIFEBOAT_TEST_LOADED;
register('./hooks.mjs', import.meta.url, { data: { out } });
const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) {
  appendFileSync(out, 'addon ' + filename + '\\n');
  return dlopen.call(this, module, filename, ...rest);
};
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => appendFileSync(out, Object.keys(cache).map((f) => 'cjs ' + f + '\\n').join('')));
`;

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** file URL of each file of the bundle -> file URLs of the modules it holds. */
async function bundleContents(): Promise<Map<string, string[]>> {
  const meta = JSON.parse(await readFile(join(ROOT, 'dist/bundle/meta.json'), 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, unknown> }>;
  };
  const url = (p: string) => pathToFileURL(resolvePath(ROOT, p)).href;
  return new Map(
    Object.entries(meta.outputs).map(([file, o]) => [url(file), Object.keys(o.inputs).map(url)]),
  );
}

let dir: string;
let bundle: Map<string, string[]>;
let cleanup: () => Promise<void>;
let run = 0;

/** Runs the CLI with the recorder; the exit code and every module it loaded. */
async function loaded(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; modules: string[] }> {
  const out = join(dir, `loaded-${run++}.txt`);
  await writeFile(out, '');
  const preload = pathToFileURL(join(dir, 'preload.mjs')).href;
  const child = spawn(process.execPath, ['--import', preload, BIN, ...args], {
    env: { ...env, LIFEBOAT_TEST_LOADED: out },
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  const modules = (await readFile(out, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .flatMap((m) => [m, ...(bundle.get(m) ?? [])]);
  return { code, modules };
}

function heavyIn(modules: string[]): string[] {
  return modules.filter((m) => HEAVY.some((h) => m.includes(h)));
}

describe('lifeboat: what a command loads at start', () => {
  let env: NodeJS.ProcessEnv;

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-startup-'));
    bundle = await bundleContents();
    await writeFile(join(dir, 'hooks.mjs'), HOOKS);
    await writeFile(join(dir, 'preload.mjs'), PRELOAD);
    env = repoEnv(join(dir, 'repo'), { LIFEBOAT_CATALOG: join(dir, 'catalog.sqlite') });
    await lifeboat(['init'], env, dir);
  });
  after(() => cleanup());

  it('--version and --help load no SDK, server, engine driver or native addon', async () => {
    for (const args of [['--version'], ['--help']]) {
      const { code, modules } = await loaded(args, env);
      assert.equal(code, 0, args.join(' '));
      assert.ok(
        modules.some((m) => m.endsWith('/dist/src/cli/main.js')),
        'the recorder saw the program',
      );
      assert.deepEqual(heavyIn(modules), [], `${args.join(' ')} loaded them`);
      assert.deepEqual(
        modules.filter((m) => m.startsWith('addon ')),
        [],
        `${args.join(' ')} opened native addons`,
      );
      // No command's implementation: jobs and the repository load when a command runs.
      assert.deepEqual(
        modules.filter((m) => /\/dist\/src\/(jobs|repo)\/.*\.js$/.test(m) && !m.endsWith('/repo/lock.js')),
        [],
      );
    }
  });

  it('snapshots on a local repository loads the repository but no SDK, server or catalog', async () => {
    const { code, modules } = await loaded(['snapshots'], env);
    assert.equal(code, 0);
    assert.ok(modules.some((m) => m.endsWith('/dist/src/repo/repository.js')));
    assert.deepEqual(heavyIn(modules), []);
    // Without a config file there is nothing to parse: no YAML parser.
    assert.deepEqual(
      modules.filter((m) => m.includes('/node_modules/yaml/')),
      [],
    );
  });

  it('a command given a config file loads the parser and the schemas (the recorder sees zod)', async () => {
    const config = join(dir, 'lifeboat.yaml');
    await writeFile(config, `sources:\n  uploads:\n    type: files\n    path: ${join(dir, 'data')}\n`);
    const { code, modules } = await loaded(['snapshots', '--config', config], env);
    assert.equal(code, 0);
    assert.ok(modules.some((m) => m.includes('/node_modules/yaml/')));
    assert.ok(modules.some((m) => m.includes('/node_modules/zod/')));
    assert.ok(modules.some((m) => m.endsWith('/dist/src/sources/engine-schemas.js')));
    // Still no engine driver: the schemas are not the engines.
    assert.ok(!modules.some((m) => m.endsWith('/dist/src/sources/files/files-source.js')));
  });

  it('the recorder sees a native addon and its package when a command uses them (jobs: the catalog)', async () => {
    const { code, modules } = await loaded(['jobs'], env);
    assert.equal(code, 0);
    assert.ok(modules.some((m) => m.startsWith('addon ') && m.includes('better-sqlite3')));
    assert.ok(heavyIn(modules).some((m) => m.includes('/node_modules/better-sqlite3/')));
  });
});
