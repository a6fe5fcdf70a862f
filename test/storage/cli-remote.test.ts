/**
 * The real CLI against each remote backend's real server: init, backup, restore, and
 * check --read-data, with the repository from LIFEBOAT_REPO and credentials from the
 * environment (s3, azure) or the config (sftp: key, known_hosts). Restored trees are
 * compared with the originals file by file.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type AzuriteServer, azuriteMissing, startAzurite } from '../../src/testing/servers/azurite.js';
import { s3rverMissing, startS3rver } from '../../src/testing/servers/s3rver.js';
import { type SshdServer, sshdMissing, startSshd } from '../../src/testing/servers/sshd.js';
import { compareTrees } from '../../src/testing/tree-compare.js';
import { lifeboat, repoEnv, tempDir } from '../helpers/cli.js';
import { writeTree } from '../helpers/data-gen.js';

interface Remote {
  url: string;
  env: NodeJS.ProcessEnv;
  /** Extra config file lines under `repository:`. */
  config?: string;
}

function roundTrip(
  name: string,
  missing: string | undefined,
  start: () => Promise<{ remote: Remote; stop: () => Promise<void> }>,
) {
  describe(`cli on ${name}`, { skip: missing }, () => {
    if (missing) console.log(`SKIPPED cli on ${name}: ${missing}`);
    let remote: Remote;
    let stop: () => Promise<void> = async () => {};
    let work: Awaited<ReturnType<typeof tempDir>>;
    before(async () => {
      if (missing) return;
      ({ remote, stop } = await start());
      work = await tempDir('lifeboat-remote-');
    });
    after(async () => {
      await stop();
      await work?.cleanup();
    });

    test('init, backup, restore and check --read-data round trip', async () => {
      const data = join(work.dir, 'data');
      await writeTree(data, { seed: name, bytes: 24 * 1024 * 1024, files: 60 });
      const args: string[] = [];
      if (remote.config) {
        const file = join(work.dir, 'lifeboat.yaml');
        await writeFile(file, `repository:\n${remote.config}`);
        args.push('--config', file);
      }
      const env = repoEnv(remote.url, remote.env);
      await lifeboat([...args, 'init'], env);
      const b = await lifeboat([...args, 'backup', '--type', 'files', '--name', 'data', '--path', data], env);
      assert.match(b.stdout, /snapshot [0-9a-f]{8} saved/);
      const restored = join(work.dir, 'restored');
      await lifeboat([...args, 'restore', 'latest', '--to', restored], env);
      assert.deepEqual(await compareTrees(data, restored, { owners: false }), []);
      const check = await lifeboat([...args, 'check', '--read-data'], env);
      assert.match(check.stdout, /^no errors: 1 snapshots, \d+ packs checked, \d+ packs/m);
      // A second backup of unchanged data adds (almost) nothing.
      const again = await lifeboat(
        [...args, 'backup', '--type', 'files', '--name', 'data', '--path', data, '--json'],
        env,
      );
      const added = JSON.parse(again.stdout)[0].saved[0].backup.bytesAdded;
      assert.ok(added < 64 * 1024, `second backup added ${added} bytes`);
    });
  });
}

roundTrip('s3 (s3rver)', s3rverMissing(), async () => {
  const s = await startS3rver();
  return { remote: { url: `s3://cli-${process.pid}/repo`, env: s.env }, stop: () => s.close() };
});

roundTrip('azure (azurite)', azuriteMissing(), async () => {
  const s: AzuriteServer = await startAzurite();
  return { remote: { url: `azure://cli${process.pid}/repo`, env: s.env }, stop: () => s.close() };
});

roundTrip('sftp (sshd)', sshdMissing(), async () => {
  const s: SshdServer = await startSshd();
  return {
    remote: {
      url: s.url('repo'),
      env: { HOME: s.directory, SSH_AUTH_SOCK: '' },
      config: `  sftp:\n    key_file: ${s.userKeyFile}\n    known_hosts: ${s.knownHostsFile}\n`,
    },
    stop: () => s.close(),
  };
});
