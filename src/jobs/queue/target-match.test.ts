import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConfiguredSource } from '../../config/config-schema.js';
import { protectedTargetReason } from './target-match.js';

describe('protectedTargetReason', () => {
  let dir: string;
  let sources: Record<string, ConfiguredSource>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lifeboat-target-'));
    await mkdir(join(dir, 'live', 'data'), { recursive: true });
    await symlink(join(dir, 'live'), join(dir, 'alias'));
    sources = {
      files: { type: 'files', path: join(dir, 'alias', 'data'), protected: true },
      pg: {
        type: 'postgres',
        url: 'postgres://u:p@localhost/app',
        databases: ['app', 'Billing'],
        protected: true,
      },
      my: { type: 'mysql', url: 'mysql://u:p@127.0.0.1:3307/shop', protected: true },
      cache: { type: 'redis', url: 'redis://localhost:6390/2', protected: true },
      open: { type: 'postgres', url: 'postgres://u:p@localhost/staging' },
    } as unknown as Record<string, ConfiguredSource>;
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const reaches = (to: string, sourceUrl?: string) => protectedTargetReason(sources, to, sourceUrl);

  it('resolves a protected path that is itself behind a symlink', async () => {
    assert.equal(await reaches(join(dir, 'live', 'data')), 'the target reaches protected source files');
    assert.equal(await reaches(`file://${join(dir, 'live')}`), 'the target reaches protected source files');
    assert.equal(await reaches(join(dir, 'live-other')), undefined);
    assert.equal(await reaches(join(dir, 'live', 'data-2')), undefined);
  });

  it('compares databases by server, port and name', async () => {
    assert.equal(
      await reaches('postgres://x@127.0.0.1:5432/billing'),
      'the target reaches protected source pg',
    );
    assert.equal(await reaches('postgres://x@localhost:5433/app'), undefined);
    assert.equal(await reaches('postgres://x@localhost/other'), undefined);
    assert.equal(
      await reaches('postgres://x@localhost/?host=/run/postgresql'),
      'the target reaches protected source pg',
    );
    assert.equal(await reaches('mariadb://root@localhost:3307/'), 'the target reaches protected source my');
    assert.equal(
      await reaches('mysql://root@localhost/shop?socket=/run/mysqld/mysqld.sock'),
      'the target reaches protected source my',
    );
    assert.equal(await reaches('mysql://root@localhost:3306/shop'), undefined);
    // A Redis restore writes the whole server, whichever database the URL names.
    assert.equal(await reaches('rediss://localhost:6390/0'), 'the target reaches protected source cache');
  });

  it('reads a bare name as a database on the snapshot’s own server', async () => {
    assert.equal(
      await reaches('app', 'postgres://u:p@localhost/staging'),
      'the target reaches protected source pg',
    );
    assert.equal(await reaches('scratch', 'postgres://u:p@localhost/staging'), undefined);
  });

  it('holds what it cannot resolve, only when something is protected', async () => {
    assert.match((await reaches('postgres://db.invalid/app')) ?? '', /cannot be resolved \(host db.invalid/);
    assert.match((await reaches('s3://bucket/x')) ?? '', /cannot be resolved \(unknown kind of target s3/);
    assert.equal(await protectedTargetReason({}, 'ftp://x/y'), undefined);
  });
});
