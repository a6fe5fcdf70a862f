import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { isLifeboatError } from '../errors.js';
import { pointRestoreCommand } from './pitr.js';

test('a restore to a point, from any shell, records the repository and the password source for restore_command', () => {
  const argv = ['/usr/bin/node', '/opt/lifeboat/dist/main.js', '--config', '/etc/lifeboat/lifeboat.yaml'];
  // The server's restore jobs: the config holds the repository and its password.
  const fromConfig = pointRestoreCommand(
    argv,
    'db',
    { repository: { url: '/srv/repo', password: 'secret-pw' } },
    {},
  );
  assert.match(fromConfig.restoreCommand, /wal-fetch --settings lifeboat-restore\.json --source db %f %p$/);
  assert.match(fromConfig.restoreCommand, /--config \/etc\/lifeboat\/lifeboat\.yaml/);
  assert.deepEqual(fromConfig.settings, {
    repository: '/srv/repo',
    password_in_config: '/etc/lifeboat/lifeboat.yaml',
  });
  assert.doesNotMatch(JSON.stringify(fromConfig), /secret-pw/);
  // The daemon's environment (with --password-file applied) wins over the config.
  const fromEnv = pointRestoreCommand(
    argv,
    'db',
    { repository: { url: '/srv/repo' } },
    {
      LIFEBOAT_REPO: 'repo',
      LIFEBOAT_PASSWORD_FILE: 'pw',
    },
  );
  assert.deepEqual(fromEnv.settings, { repository: resolve('repo'), password_file: resolve('pw') });
  // A password only in the daemon's environment: PostgreSQL's restore_command would not have it.
  assert.throws(
    () => pointRestoreCommand(argv, 'db', { repository: { url: '/srv/repo' } }, { LIFEBOAT_PASSWORD: 'x' }),
    (err) => isLifeboatError(err) && err.code === 'usage' && /LIFEBOAT_PASSWORD/.test(err.message),
  );
});
