/**
 * @module test/apps/app-incomplete
 * What goes wrong with an application's point, through the real CLI with files sources only:
 * a source that fails leaves the point incomplete (exit 3, listed INCOMPLETE, the missing
 * source named), a failing before_backup hook stops the point before any source is read,
 * and the sources a point did save restore with --only.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { type CliResult, repoEnv, runCli, tempDir } from '../helpers/cli.js';

function show(args: string[], r: CliResult): string {
  return `lifeboat ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

test('an incomplete point, a failing hook, and restoring what a point saved', async () => {
  const { dir, cleanup } = await tempDir('lifeboat-app-incomplete-');
  try {
    const config = join(dir, 'lifeboat.yaml');
    const env = { ...repoEnv(join(dir, 'repo')), LIFEBOAT_CONFIG: config };
    const write = (hook: string) =>
      writeFile(
        config,
        stringify({
          sources: {
            docs: { type: 'files', path: join(dir, 'docs') },
            media: { type: 'files', path: join(dir, 'media') },
          },
          apps: {
            site: {
              sources: ['docs', 'media'],
              hooks: { before_backup: hook },
              environments: {
                staging: { targets: { docs: join(dir, 'st-docs'), media: join(dir, 'st-media') } },
              },
            },
          },
        }),
      );
    const cli = async (args: string[], code = 0): Promise<CliResult> => {
      const r = await runCli(args, env);
      assert.equal(r.code, code, show(args, r));
      return r;
    };
    await write('true');
    await cli(['init']);
    await mkdir(join(dir, 'docs'));
    await writeFile(join(dir, 'docs', 'a.md'), 'a');

    // media does not exist: docs is saved, the point is incomplete, exit 3.
    const partial = await cli(['backup', '--app', 'site'], 3);
    assert.match(partial.stdout, /^point [0-9a-f]{8} of site: INCOMPLETE, 2 sources in/m);
    assert.match(partial.stderr, /1 of 2 sources backed up; failed: media/);
    const listed = await cli(['points']);
    assert.match(listed.stdout, /site .* docs, media \(missing\) .* INCOMPLETE$/m);
    assert.equal((await cli(['points', '--complete'])).stdout.trim(), '0 points');

    // The point's docs restore alone; media is refused by name.
    const id = (JSON.parse((await cli(['points', '--json'])).stdout) as { id: string }[])[0].id;
    const refused = await cli(['restore', '--app', 'site', '--point', id, '--env', 'staging'], 1);
    assert.match(
      refused.stderr,
      /point [0-9a-f]{8} has no complete backup of media \(restore the others with --only/,
    );
    const docs = await cli(['restore', '--app', 'site', '--point', id, '--env', 'staging', '--only', 'docs']);
    assert.match(docs.stdout, /^site restored to staging: 1 of 1 sources verified; recovery time/m);
    assert.deepEqual(await readdir(join(dir, 'st-docs')), ['a.md']);

    // A failing before_backup hook: no source is read, no snapshot written.
    await mkdir(join(dir, 'media'));
    await write('echo queue busy; exit 4');
    const hooked = await cli(['backup', '--app', 'site'], 1);
    assert.match(
      hooked.stderr,
      /before_backup hook of source "app:site" exited with code 4; output: queue busy/,
    );
    assert.equal((JSON.parse((await cli(['points', '--json'])).stdout) as unknown[]).length, 1);

    // Unknown names are usage errors that list what there is.
    const noApp = await cli(['backup', '--app', 'nope'], 2);
    assert.match(noApp.stderr, /no app "nope" in the config \(known: site/);
    const noSource = await cli(
      ['restore', '--app', 'site', '--point', id, '--env', 'staging', '--only', 'x'],
      2,
    );
    assert.match(noSource.stderr, /--only x: not a source of app "site" \(its sources: docs, media\)/);
    await rm(join(dir, 'st-docs'), { recursive: true, force: true });
  } finally {
    await cleanup();
  }
});
