/**
 * `lifeboat copy` between repositories with their own keys: to a local repository and to an
 * S3 one (s3rver). A restore from the copy equals the original; copying again transfers
 * nothing; an incremental copy reads only what is new; --older-than picks older snapshots.
 */
import assert from 'node:assert/strict';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type S3rverServer, s3rverMissing, startS3rver } from '../../src/testing/servers/s3rver.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, runCli, tempDir } from '../helpers/cli.js';
import { writeTree } from '../helpers/data-gen.js';

let work: Awaited<ReturnType<typeof tempDir>>;
let data: string;
let srcEnv: NodeJS.ProcessEnv;
let server: S3rverServer | undefined;
const s3Skip = s3rverMissing();

interface CopyJson {
  destination: string;
  snapshots: { source_id: string; destination_id: string; existed: boolean }[];
  blobs_read: number;
  blobs_added: number;
  bytes_added: number;
}

before(async () => {
  work = await tempDir('lifeboat-copy-');
  data = join(work.dir, 'data');
  await writeTree(data, { seed: 'copy', bytes: 12 * 1024 * 1024, files: 50 });
  srcEnv = repoEnv(join(work.dir, 'src'));
  await lifeboat(['init'], srcEnv);
  await lifeboat(['backup', '--type', 'files', '--name', 'data', '--path', data], srcEnv);
  if (!s3Skip) server = await startS3rver();
});
after(async () => {
  await server?.close();
  await work.cleanup();
});

async function copyTo(url: string, extra: NodeJS.ProcessEnv, args: string[] = ['--all']): Promise<CopyJson> {
  const r = await lifeboat(['copy', ...args, '--to', url, '--json'], { ...srcEnv, ...extra });
  return JSON.parse(r.stdout);
}

async function roundTrip(dstUrl: string, dstExtra: NodeJS.ProcessEnv) {
  const dstEnv = repoEnv(dstUrl, { LIFEBOAT_PASSWORD: 'destination-password', ...dstExtra });
  await lifeboat(['init'], dstEnv);
  const toPw = { ...dstExtra, LIFEBOAT_TO_PASSWORD: 'destination-password' };

  const first = await copyTo(dstUrl, toPw);
  assert.equal(first.snapshots.length, 1);
  assert.equal(first.snapshots[0].existed, false);
  assert.ok(first.bytes_added > 10 * 1024 * 1024 * 0.5, String(first.bytes_added));
  // Ids differ: the destination has its own keys.
  assert.notEqual(first.snapshots[0].destination_id, first.snapshots[0].source_id);

  const restored = join(work.dir, `restored-${first.snapshots[0].destination_id.slice(0, 8)}`);
  await lifeboat(['restore', 'latest', '--to', restored], dstEnv);
  assert.deepEqual(await compareTrees(data, restored, { owners: false }), []);
  await lifeboat(['check', '--read-data'], dstEnv);

  const second = await copyTo(dstUrl, toPw);
  assert.deepEqual(
    {
      existed: second.snapshots[0].existed,
      read: second.blobs_read,
      added: second.blobs_added,
      bytes: second.bytes_added,
    },
    { existed: true, read: 0, added: 0, bytes: 0 },
  );
  const text = await lifeboat(['copy', '--all', '--to', dstUrl], { ...srcEnv, ...toPw });
  assert.match(text.stdout, /0 snapshots copied to .*, 1 already there; 0 blobs, 0 B added/);

  // The source's password is the default: the destination refuses it.
  const wrong = await runCli(['copy', '--all', '--to', dstUrl], { ...srcEnv, ...dstExtra });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /wrong password/);
  return { dstEnv, toPw };
}

test('copy to a local repository: restore equals the original; a second copy is a no-op', async () => {
  await roundTrip(join(work.dir, 'dst-local'), {});
});

test('copy to an S3 repository (s3rver), then incrementally', { skip: s3Skip }, async () => {
  const url = `s3://copy-${process.pid}/offsite`;
  const { dstEnv, toPw } = await roundTrip(url, server!.env);
  // A second backup with a small change: the copy reads only the changed blobs.
  await appendFile(join(data, 'grown.txt'), 'x'.repeat(300_000));
  await lifeboat(['backup', '--type', 'files', '--name', 'data', '--path', data], srcEnv);
  const third = await copyTo(url, toPw, ['latest']);
  assert.equal(third.snapshots[0].existed, false);
  assert.ok(third.blobs_read < 10, `read ${third.blobs_read} blobs`);
  assert.ok(third.bytes_added < 2 * 1024 * 1024, `added ${third.bytes_added}`);
  const list = JSON.parse((await lifeboat(['snapshots', '--json'], dstEnv)).stdout) as {
    meta: { copiedFrom?: unknown };
  }[];
  assert.equal(list.length, 2);
  assert.ok(list.every((s) => s.meta.copiedFrom));
  const restored = join(work.dir, 'restored-incremental');
  await lifeboat(['restore', 'latest', '--to', restored], dstEnv);
  assert.deepEqual(await compareTrees(data, restored, { owners: false }), []);
});

test('copy --older-than picks only older snapshots; bad usage exits 2', async () => {
  const dst = join(work.dir, 'dst-older');
  await lifeboat(['init'], repoEnv(dst));
  const none = await copyTo(dst, {}, ['--all', '--older-than', '1h']);
  assert.equal(none.snapshots.length, 0);
  await writeFile(join(work.dir, 'unused'), '');
  assert.equal((await runCli(['copy', '--to', dst], srcEnv)).code, 2);
  assert.equal((await runCli(['copy', '--all'], srcEnv)).code, 2);
  const missing = await runCli(['copy', '--all', '--to', join(work.dir, 'nowhere')], srcEnv);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no repository at .*nowhere: create it first/);
});
