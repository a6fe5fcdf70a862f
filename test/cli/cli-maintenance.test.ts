/**
 * @module test/cli/cli-maintenance
 * Repository upkeep through the real CLI: `check` (structure, --read-data, a subset, a
 * damaged pack), `forget` (keep policies from flags and from the config, dry runs, JSON),
 * `prune` (space comes back, what is kept still verifies and restores).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoEnv, tempDir } from '../helpers/cli.js';
import { bareEnv, CliSession } from '../helpers/cli-session.js';

const PASSWORD = 'pw-maint-Hj2&saffron-walrus';

const session = new CliSession({ password: PASSWORD });
const { cli, ok, fails, ids } = session;

/** Bytes of every file under `dir`. */
async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

async function packFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(repo, 'data'), { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

interface CheckJson {
  ok: boolean;
  errors: string[];
  damage: { kind: string; name: string; affects: { snapshot: string; source: string; paths: string[] }[] }[];
  repair: string[];
  warnings: string[];
  snapshots: number;
  packs: number;
  packsRead: number;
  blobsRead: number;
  bytesRead: number;
}

interface ForgetJson {
  source: string;
  keep: { id: string; time: string; reasons: string[] }[];
  remove: { id: string; time: string }[];
}

describe('lifeboat check, forget, prune', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let repo: string;
  let env: NodeJS.ProcessEnv;
  /** Snapshot id -> the payload it holds. */
  const payloads = new Map<string, Buffer>();
  let web: string[];
  let logs: string[];
  let restoreCount = 0;

  /** Backs up `name` with a fresh random payload (so each snapshot has data of its own). */
  async function backupVersion(name: string, tags: string[] = []): Promise<string> {
    const src = join(dir, 'src', name);
    await mkdir(src, { recursive: true });
    const payload = randomBytes(120_000);
    await writeFile(join(src, 'payload.bin'), payload);
    await writeFile(join(src, 'readme.txt'), `source ${name}\n`);
    const args = ['backup', '--type', 'files', '--name', name, '--path', src, '--json'];
    for (const t of tags) args.push('--tag', t);
    const [saved] = JSON.parse((await ok(args, env)).stdout)[0].saved;
    payloads.set(saved.id, payload);
    return saved.id;
  }

  /** Restores `id` and checks it holds its payload. */
  async function assertRestores(id: string): Promise<void> {
    const to = join(dir, 'restores', `${id.slice(0, 12)}-${++restoreCount}`);
    await ok(['restore', id, '--to', to], env);
    const want = payloads.get(id);
    assert.ok(want, `payload of ${id} known`);
    assert.ok(
      (await readFile(join(to, 'payload.bin'))).equals(want),
      `snapshot ${id.slice(0, 8)} restores its data`,
    );
  }

  before(async () => {
    ({ dir, cleanup } = await tempDir('lifeboat-cli-maint-'));
    session.workDir = dir;
    repo = join(dir, 'repo');
    env = repoEnv(repo, { LIFEBOAT_PASSWORD: PASSWORD });
    await ok(['init'], env);
    web = [];
    logs = [];
    // Two sources backed up side by side (backups share the repository lock).
    for (let i = 0; i < 4; i++) {
      const [w, l] = await Promise.all([
        backupVersion('web', i === 0 ? ['release'] : []),
        backupVersion('logs'),
      ]);
      web.push(w);
      logs.push(l);
    }
  });
  after(() => cleanup());

  describe('check', () => {
    it('checks the structure; --read-data reads and verifies every pack', async () => {
      const r = await ok(['check'], env);
      assert.match(r.stdout, /^no errors: 8 snapshots, \d+ packs checked$/m);
      const full = await ok(['check', '--read-data'], env);
      assert.match(
        full.stdout,
        /^no errors: 8 snapshots, (\d+) packs checked, \1 packs \(.+\) and \d+ blobs read and verified$/m,
      );
    });

    it('--json reports counts; --read-data-subset reads that share of packs', async () => {
      const structure: CheckJson = JSON.parse((await ok(['check', '--json'], env)).stdout);
      assert.equal(structure.ok, true);
      assert.deepEqual(structure.errors, []);
      assert.equal(structure.snapshots, 8);
      assert.equal(structure.packsRead, 0);
      const packs = (await packFiles(repo)).length;
      assert.equal(structure.packs, packs);

      const all: CheckJson = JSON.parse((await ok(['check', '--read-data', '--json'], env)).stdout);
      assert.equal(all.packsRead, packs);
      assert.equal(all.bytesRead, await sizeOf(join(repo, 'data')));
      assert.ok(all.blobsRead >= 16, `blobs read: ${all.blobsRead}`);

      const half: CheckJson = JSON.parse(
        (await ok(['check', '--read-data-subset', '50%', '--json'], env)).stdout,
      );
      assert.equal(half.ok, true);
      assert.equal(half.packsRead, Math.ceil(packs / 2));
      const some: CheckJson = JSON.parse(
        (await ok(['check', '--read-data-subset', '10', '--json'], env)).stdout,
      );
      assert.equal(some.packsRead, Math.ceil(packs / 10));
      const text = await ok(['check', '--read-data-subset', '50%'], env);
      assert.match(
        text.stdout,
        new RegExp(`${Math.ceil(packs / 2)} packs \\(.+\\) and \\d+ blobs read and verified`),
      );
    });

    it('an invalid --read-data-subset exits 2 before touching the repository', async () => {
      await Promise.all(
        ['abc', '0%', '150%', '-5'].map((bad) =>
          fails(['check', '--read-data-subset', bad], env, 2, /--read-data-subset ".*" must be a percentage/),
        ),
      );
    });

    it('a damaged pack is found by --read-data (exit 1, the pack named)', async () => {
      const copy = join(dir, 'repo-damaged');
      await cp(repo, copy, { recursive: true });
      const [pack] = await packFiles(copy);
      const bytes = await readFile(pack);
      bytes[10] ^= 0xff;
      await writeFile(pack, bytes);
      const damaged = repoEnv(copy, { LIFEBOAT_PASSWORD: PASSWORD });
      const name = pack.split('/').at(-1) ?? '';
      const r = await fails(['check', '--read-data'], damaged, 1, /has \d+ errors/);
      assert.match(r.stdout, new RegExp(`^error: pack ${name} is damaged`, 'm'));
      // What it costs, and the repair: never "run check" again.
      assert.match(r.stdout, new RegExp(`^damage: pack ${name.slice(0, 8)}: `, 'm'));
      assert.match(
        r.stdout,
        new RegExp(`^to repair, in order:\n {2}lifeboat repair packs ${name.slice(0, 8)}$`, 'm'),
      );
      assert.doesNotMatch(`${r.stdout}${r.stderr}`, /run `?lifeboat check/);
      const report: CheckJson = JSON.parse((await cli(['check', '--read-data', '--json'], damaged)).stdout);
      assert.equal(report.ok, false);
      assert.ok(report.errors.some((e) => e.includes(name)));
      const damage = report.damage.find((d) => d.name === name);
      assert.ok(damage, JSON.stringify(report.damage));
      const known = [...web, ...logs];
      for (const a of damage.affects) {
        assert.ok(known.includes(a.snapshot), `an affected snapshot of this repository: ${a.snapshot}`);
        assert.match(a.source, /^(web|logs)$/);
        assert.ok(
          a.paths.every((p) => ['payload.bin', 'readme.txt', '/'].includes(p)),
          a.paths.join(),
        );
      }
      assert.equal(report.repair[0], `lifeboat repair packs ${name.slice(0, 8)}`);
    });

    it('repair --json on a whole repository finds nothing to do and changes nothing', async () => {
      const before = (await packFiles(repo)).sort();
      const index = JSON.parse((await ok(['repair', 'index', '--json'], env)).stdout);
      assert.equal(index.changed, false);
      assert.equal(index.packs, before.length);
      const packs = JSON.parse((await ok(['repair', 'packs', '--json'], env)).stdout);
      assert.deepEqual(packs.repaired, []);
      assert.equal(packs.packsRead, before.length);
      const snaps = JSON.parse((await ok(['repair', 'snapshots', '--forget', '--json'], env)).stdout);
      assert.deepEqual(snaps.repaired, []);
      assert.equal(snaps.snapshots, 8);
      assert.deepEqual((await packFiles(repo)).sort(), before);
      await fails(['repair', 'packs', 'ffffffff'], env, 1, /there is no pack "ffffffff"/);
    });
  });

  describe('forget and prune', () => {
    it('without a keep policy exits 2 and names the options', async () => {
      const r = await fails(['forget'], env, 2, /no keep policy/);
      assert.match(r.stderr, /--keep-last/);
      await fails(['forget', '--source', 'web', '--dry-run'], env, 2, /no keep policy/);
      assert.equal((await ids(env)).length, 8);
    });

    it('--dry-run says what would go and removes nothing', async () => {
      const r = await ok(['forget', '--keep-last', '2', '--dry-run'], env);
      assert.match(r.stdout, /^source web:$/m);
      assert.match(r.stdout, /^source logs:$/m);
      assert.equal(r.stdout.match(/would remove$/gm)?.length, 4, r.stdout);
      assert.equal(r.stdout.match(/keep {4}\(last \d\/2\)$/gm)?.length, 4, r.stdout);
      assert.match(r.stdout, /^4 snapshots would be removed$/m);
      assert.equal((await ids(env)).length, 8);
    });

    it('--keep-last 2 --source logs removes the two oldest of that source only', async () => {
      const r = await ok(['forget', '--keep-last', '2', '--source', 'logs'], env);
      assert.doesNotMatch(r.stdout, /source web/);
      assert.match(r.stdout, new RegExp(`^  ${logs[0].slice(0, 8)}  .*  removed$`, 'm'));
      assert.match(r.stdout, /^2 snapshots removed$/m);
      assert.deepEqual(await ids(env, '--source', 'logs'), logs.slice(2));
      assert.deepEqual(await ids(env, '--source', 'web'), web);
    });

    it('--keep-tag keeps tagged snapshots beyond the policy; --json lists the decisions', async () => {
      const r = await ok(
        ['forget', '--keep-last', '1', '--keep-tag', 'release', '--source', 'web', '--json'],
        env,
      );
      const groups: ForgetJson[] = JSON.parse(r.stdout);
      assert.equal(groups.length, 1);
      assert.equal(groups[0].source, 'web');
      assert.deepEqual(
        groups[0].keep.map((k) => [k.id, k.reasons]),
        [
          [web[3], ['last 1/1']],
          [web[0], ['tag release']],
        ],
      );
      assert.deepEqual(groups[0].remove.map((k) => k.id).sort(), [web[1], web[2]].sort());
      assert.deepEqual(await ids(env, '--source', 'web'), [web[0], web[3]]);
    });

    it('other keep options (--keep-daily and friends) take effect', async () => {
      const r = await ok(
        ['forget', '--keep-daily', '1', '--keep-yearly', '1', '--source', 'logs', '--dry-run', '--json'],
        env,
      );
      const [group]: ForgetJson[] = JSON.parse(r.stdout);
      assert.deepEqual(
        group.keep.map((k) => k.id),
        [logs[3]],
      );
      assert.match(group.keep[0].reasons.join(' '), /^daily \d{4}-\d\d-\d\d yearly \d{4}$/);
      assert.deepEqual(
        group.remove.map((k) => k.id),
        [logs[2]],
      );
    });

    it('prune deletes the packs only forgotten snapshots used; the rest verifies and restores', async () => {
      const before = await sizeOf(repo);
      const packsBefore = (await packFiles(repo)).length;
      const dry = await ok(['prune', '--dry-run'], env);
      assert.match(dry.stdout, /would free/);
      assert.equal(await sizeOf(repo), before);

      const r = await ok(['prune'], env);
      const m = r.stdout.match(/^(\d+) packs deleted, (\d+) repacked, (\d+) kept; freed (.+)$/m);
      assert.ok(m, r.stdout);
      assert.ok(Number(m[1]) >= 4, `4 snapshots' own packs deleted: ${r.stdout}`);
      const after = await sizeOf(repo);
      // Four forgotten snapshots held about 4 x 120 kB of incompressible data.
      assert.ok(before - after > 400_000, `repository shrank from ${before} to ${after}`);
      assert.ok((await packFiles(repo)).length < packsBefore);

      const check = await ok(['check', '--read-data'], env);
      assert.match(check.stdout, /^no errors: 4 snapshots/m);
      for (const id of [web[0], web[3], logs[2], logs[3]]) await assertRestores(id);
    });

    it('prune with nothing unreferenced changes nothing', async () => {
      const before = (await packFiles(repo)).sort();
      const r = await ok(['prune'], env);
      assert.match(r.stdout, /^0 packs deleted, 0 repacked, \d+ kept; freed 0 B$/m);
      assert.deepEqual((await packFiles(repo)).sort(), before);
    });

    it('forget --prune forgets and prunes in one go', async () => {
      const before = await sizeOf(repo);
      const r = await ok(['forget', '--keep-last', '1', '--source', 'logs', '--prune'], env);
      assert.match(r.stdout, /^1 snapshot removed$/m);
      assert.match(r.stdout, /^[1-9]\d* packs deleted/m);
      assert.ok(before - (await sizeOf(repo)) > 100_000);
      assert.deepEqual(await ids(env, '--source', 'logs'), [logs[3]]);
      await ok(['check', '--read-data'], env);
      await assertRestores(logs[3]);
      await assertRestores(web[0]);
    });

    it("uses each source's retention from the config when no --keep option is given", async () => {
      const repo2 = join(dir, 'repo-retention');
      const config = join(dir, 'retention.yaml');
      const a = join(dir, 'src', 'kept-short');
      const b = join(dir, 'src', 'no-policy');
      await mkdir(a, { recursive: true });
      await mkdir(b, { recursive: true });
      await writeFile(
        config,
        `repository:\n  url: ${repo2}\n  password: \${LB_TEST_PW}\nsources:\n  short:\n    type: files\n    path: ${a}\n    retention: {last: 1}\n  forever:\n    type: files\n    path: ${b}\n`,
      );
      const cenv = bareEnv({ LB_TEST_PW: PASSWORD, LIFEBOAT_CONFIG: config });
      await ok(['init'], cenv);
      for (let i = 0; i < 3; i++) {
        await writeFile(join(a, 'f.txt'), `version ${i}\n`);
        await writeFile(join(b, 'g.txt'), `version ${i}\n`);
        await ok(['backup'], cenv);
      }
      const short = await ids(cenv, '--source', 'short');
      const forever = await ids(cenv, '--source', 'forever');
      assert.equal(short.length, 3);

      const dry = await ok(['forget', '--dry-run'], cenv);
      assert.match(dry.stdout, /^2 snapshots would be removed$/m);
      const r = await ok(['forget'], cenv);
      assert.match(r.stdout, /^source short:$/m);
      assert.doesNotMatch(r.stdout, /source forever/);
      assert.match(r.stdout, /keep {4}\(last 1\/1\)/);
      assert.deepEqual(await ids(cenv, '--source', 'short'), [short[2]]);
      assert.deepEqual(await ids(cenv, '--source', 'forever'), forever);
      // Flags win over the config: the source without retention can be thinned by hand.
      await ok(['forget', '--keep-last', '2', '--source', 'forever'], cenv);
      assert.deepEqual(await ids(cenv, '--source', 'forever'), forever.slice(1));
      await fails(['forget', '--source', 'forever'], cenv, 2, /no keep policy for source "forever"/);
    });

    it('forget --prune and prune take the grace from repository.prune_grace; --grace overrides it', async () => {
      const repo3 = join(dir, 'repo-grace');
      const config = join(dir, 'grace.yaml');
      const src = join(dir, 'src', 'graced');
      await mkdir(src, { recursive: true });
      await writeFile(
        config,
        `repository:\n  url: ${repo3}\n  password: \${LB_TEST_PW}\n  prune_grace: 24h\nsources:\n  graced:\n    type: files\n    path: ${src}\n    retention: {last: 1}\n`,
      );
      const cenv = bareEnv({ LB_TEST_PW: PASSWORD, LIFEBOAT_CONFIG: config });
      await ok(['init'], cenv);
      for (let i = 0; i < 2; i++) {
        await writeFile(join(src, 'payload.bin'), randomBytes(60_000));
        await ok(['backup'], cenv);
      }
      const packsBefore = (await packFiles(repo3)).length;

      const r = await ok(['forget', '--prune'], cenv);
      assert.match(r.stdout, /^1 snapshot removed$/m);
      const m = r.stdout.match(
        /^0 packs deleted, .*; ([1-9]\d*) marked for deletion, 0 waiting for their grace$/m,
      );
      assert.ok(m, r.stdout);
      const marked = Number(m[1]);
      assert.equal((await packFiles(repo3)).length, packsBefore, 'marked, not deleted');

      // Within the configured grace a prune keeps them waiting.
      const waiting = JSON.parse((await ok(['prune', '--json'], cenv)).stdout);
      assert.equal(waiting.packsDeleted, 0);
      assert.equal(waiting.packsPending, marked);
      // --grace 0 wins over the config: they go now.
      const now = JSON.parse((await ok(['prune', '--grace', '0', '--json'], cenv)).stdout);
      assert.equal(now.packsDeleted, marked);
      assert.equal((await packFiles(repo3)).length, packsBefore - marked);
      await ok(['check', '--read-data'], cenv);

      // A bad value names the key.
      await writeFile(config, `repository:\n  url: ${repo3}\n  prune_grace: soon\n`);
      await fails(['prune'], cenv, 2, /repository\.prune_grace/);
    });
  });

  it('no output shows the password, and no error a stack trace', () => {
    session.assertNoLeaks(30);
  });
});
