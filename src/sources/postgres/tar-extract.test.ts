import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Header, pack } from 'tar-stream';
import { isLifeboatError } from '../../errors.js';
import { extractTar } from './tar-extract.js';

const asRoot = process.getuid?.() === 0;

interface Entry {
  header: Partial<Header> & { name: string };
  data?: Buffer | string;
}

/** A tar made by tar-stream's pack() (ustar, pax headers for long names). */
async function makeTar(entries: Entry[]): Promise<Buffer> {
  const p = pack();
  const out: Buffer[] = [];
  const collected = (async () => {
    for await (const c of p) out.push(c as Buffer);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.data === undefined) p.entry(e.header, cb).end(null);
      else p.entry(e.header, e.data, cb);
    });
  }
  p.finalize();
  await collected;
  return Buffer.concat(out);
}

/** The tar fed in pieces of `size` bytes, as the repository hands chunks over. */
async function* pieces(tar: Buffer, size = 4096): AsyncIterable<Uint8Array> {
  for (let at = 0; at < tar.length; at += size) yield tar.subarray(at, at + size);
}

const T1 = new Date('2021-03-04T05:06:07Z');
const T2 = new Date('2022-01-02T03:04:05Z');

function rejectsWith(code: string, pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isLifeboatError(err), `not a LifeboatError: ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('tar extraction', () => {
  let base: string;
  let n = 0;
  const fresh = async () => {
    const dir = join(base, `x${n++}`, 'data');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  };
  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'lifeboat-tar-extract-'));
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('writes files with their modes and mtimes, empty files and nested directories', async () => {
    const big = randomBytes(300_000);
    const tar = await makeTar([
      { header: { name: 'PG_VERSION', mode: 0o600, mtime: T1 }, data: '17\n' },
      { header: { name: 'base/', type: 'directory', mode: 0o750, mtime: T2 } },
      { header: { name: 'base/1/', type: 'directory', mode: 0o700, mtime: T1 } },
      { header: { name: 'base/1/1259', mode: 0o640, mtime: T2 }, data: big },
      { header: { name: 'base/1/empty', mode: 0o600, mtime: T1 }, data: Buffer.alloc(0) },
      { header: { name: 'global/pg_control', mode: 0o600, mtime: T2 }, data: 'control' }, // no dir entry
    ]);
    const dir = await fresh();
    const stats = await extractTar(pieces(tar, 1000), dir, { archive: 'base.tar', maxQueuedBytes: 8192 });
    assert.deepEqual(stats, { files: 4, dirs: 2, symlinks: 0, hardlinks: 0, bytes: big.length + 10 });
    assert.equal(await readFile(join(dir, 'PG_VERSION'), 'utf8'), '17\n');
    assert.deepEqual(await readFile(join(dir, 'base/1/1259')), big);
    const f = await stat(join(dir, 'base/1/1259'));
    assert.equal(f.mode & 0o7777, 0o640);
    assert.equal(f.mtimeMs, T2.getTime());
    const e = await stat(join(dir, 'base/1/empty'));
    assert.equal(e.size, 0);
    assert.equal(e.mtimeMs, T1.getTime());
    const d = await stat(join(dir, 'base'));
    assert.ok(d.isDirectory());
    assert.equal(d.mode & 0o7777, 0o750);
    // Set once its contents were in place, so creating them did not change it.
    assert.equal(d.mtimeMs, T2.getTime());
    assert.equal((await stat(join(dir, 'base/1'))).mtimeMs, T1.getTime());
    assert.equal(await readFile(join(dir, 'global/pg_control'), 'utf8'), 'control');
    // The data directory itself keeps its mode.
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
  });

  it('gives a directory the archive comes back to later the time of extraction, as GNU tar does', async () => {
    const tar = await makeTar([
      { header: { name: 'pg_wal/', type: 'directory', mode: 0o700, mtime: T1 } },
      { header: { name: 'pg_wal/archive_status/', type: 'directory', mode: 0o700, mtime: T1 } },
      { header: { name: 'other', mtime: T1 }, data: 'x' },
      { header: { name: 'pg_wal/000000010000000000000001', mtime: T1 }, data: 'wal' },
    ]);
    const dir = await fresh();
    const before = Date.now() - 5000;
    await extractTar(pieces(tar), dir, { archive: 'base.tar' });
    assert.ok((await stat(join(dir, 'pg_wal'))).mtimeMs > before);
    assert.equal((await stat(join(dir, 'pg_wal/archive_status'))).mtimeMs, T1.getTime());
  });

  it('reads long names: pax headers from tar-stream, GNU long names from the system tar', async () => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(120)}`;
    const tar = await makeTar([{ header: { name: long, mtime: T1 }, data: 'long' }]);
    const dir = await fresh();
    await extractTar(pieces(tar, 333), dir, { archive: 'base.tar' });
    assert.equal(await readFile(join(dir, long), 'utf8'), 'long');

    const src = join(base, 'gnu-src');
    await mkdir(join(src, 'a'.repeat(90), 'b'.repeat(90)), { recursive: true });
    const gnuName = join('a'.repeat(90), 'b'.repeat(90), `${'c'.repeat(110)}.dat`);
    await writeFile(join(src, gnuName), 'gnu long name');
    await symlink('c'.repeat(150), join(src, 'l'.repeat(120)));
    const r = spawnSync('tar', ['--format=gnu', '-c', '-f', '-', '-C', src, '.'], { maxBuffer: 1 << 24 });
    assert.equal(r.status, 0, String(r.stderr));
    const dir2 = await fresh();
    await extractTar(pieces(r.stdout, 700), dir2, { archive: 'base.tar' });
    assert.equal(await readFile(join(dir2, gnuName), 'utf8'), 'gnu long name');
    assert.equal(await readlink(join(dir2, 'l'.repeat(120))), 'c'.repeat(150));
  });

  it('makes symlinks and hard links', async () => {
    const tar = await makeTar([
      { header: { name: 'pg_tblspc/', type: 'directory', mode: 0o700, mtime: T1 } },
      { header: { name: 'pg_tblspc/16385', type: 'symlink', linkname: '/srv/tblspc', mtime: T1 } },
      { header: { name: 'a', mtime: T1 }, data: 'same inode' },
      { header: { name: 'b', type: 'link', linkname: 'a', mtime: T1 } },
    ]);
    const dir = await fresh();
    const stats = await extractTar(pieces(tar), dir, { archive: 'base.tar' });
    assert.equal(stats.symlinks, 1);
    assert.equal(stats.hardlinks, 1);
    assert.equal(await readlink(join(dir, 'pg_tblspc/16385')), '/srv/tblspc');
    assert.equal((await lstat(join(dir, 'pg_tblspc/16385'))).mtimeMs, T1.getTime());
    const [a, b] = [await stat(join(dir, 'a')), await stat(join(dir, 'b'))];
    assert.equal(a.ino, b.ino);
    assert.equal(await readFile(join(dir, 'b'), 'utf8'), 'same inode');
  });

  it('refuses names that are absolute or hold ".."', async () => {
    for (const name of ['../x', 'base/../../x', '/abs']) {
      // pack() would normalize some of these names; build the header by hand there.
      const tar = await makeTar([{ header: { name: 'ok', mtime: T1 }, data: 'ok' }]);
      const evil = rawHeader(name, 'evil');
      const withEvil = Buffer.concat([tar.subarray(0, tar.length - 1024), evil, Buffer.alloc(1024)]);
      const dir = await fresh();
      await assert.rejects(
        extractTar(pieces(withEvil), dir, { archive: 'base.tar' }),
        rejectsWith('repo_corrupt', new RegExp(`refusing entry "${escapeRegExp(name)}" of base\\.tar`)),
      );
      assert.deepEqual(await readdir(dir), ['ok']);
    }
    await assert.rejects(readFile(join(base, 'x')), /ENOENT/);
  });

  it('refuses to write through a symlink the archive made', async () => {
    const outside = join(base, 'outside');
    await mkdir(outside);
    const tar = await makeTar([
      { header: { name: 'pg_tblspc/', type: 'directory', mode: 0o700, mtime: T1 } },
      { header: { name: 'pg_tblspc/1', type: 'symlink', linkname: outside, mtime: T1 } },
      { header: { name: 'pg_tblspc/1/PG_17/x', mtime: T1 }, data: 'escaped' },
    ]);
    const dir = await fresh();
    await assert.rejects(
      extractTar(pieces(tar), dir, { archive: 'base.tar' }),
      rejectsWith(
        'repo_corrupt',
        /refusing entry "pg_tblspc\/1\/PG_17\/x" of base\.tar: .*"pg_tblspc\/1", a symlink/,
      ),
    );
    // Also by a hard link, and by a directory over the symlink.
    const viaLink = await makeTar([
      { header: { name: 's', type: 'symlink', linkname: outside, mtime: T1 } },
      { header: { name: 'h', type: 'link', linkname: 's', mtime: T1 } },
      { header: { name: 'h/x', mtime: T1 }, data: 'escaped' },
    ]);
    await assert.rejects(
      extractTar(pieces(viaLink), await fresh(), { archive: 'base.tar' }),
      rejectsWith('repo_corrupt', /refusing entry "h\/x" .*"h", a symlink/),
    );
    const dirOver = await makeTar([
      { header: { name: 's', type: 'symlink', linkname: outside, mtime: T1 } },
      { header: { name: 's/', type: 'directory', mode: 0o700, mtime: T1 } },
    ]);
    await assert.rejects(
      extractTar(pieces(dirOver), await fresh(), { archive: 'base.tar' }),
      rejectsWith('repo_corrupt', /refusing entry "s\/?"/),
    );
    assert.deepEqual(await readdir(outside), []);
  });

  it('says where a truncated archive ends', async () => {
    const data = randomBytes(10_000);
    const tar = await makeTar([
      { header: { name: 'first', mtime: T1 }, data: 'one' },
      { header: { name: 'base/1/2619', mtime: T1 }, data },
    ]);
    await assert.rejects(
      extractTar(pieces(tar.subarray(0, 4000)), await fresh(), { archive: 'base.tar' }),
      rejectsWith(
        'repo_corrupt',
        /base\.tar is not a whole tar archive: it ends inside entry "base\/1\/2619"/,
      ),
    );
    // Cut just after an entry: only the missing end blocks tell.
    const end = 512 + 512 + 512 + Math.ceil(data.length / 512) * 512;
    await assert.rejects(
      extractTar(pieces(tar.subarray(0, end)), await fresh(), { archive: 'base.tar' }),
      rejectsWith('repo_corrupt', /after entry "base\/1\/2619" without the end-of-archive blocks/),
    );
    await assert.rejects(
      extractTar(pieces(Buffer.alloc(0)), await fresh(), { archive: 'base.tar' }),
      rejectsWith('repo_corrupt', /at its start/),
    );
    const garbage = Buffer.concat([tar.subarray(0, 1024), randomBytes(512)]);
    await assert.rejects(
      extractTar(pieces(garbage), await fresh(), { archive: 'base.tar' }),
      rejectsWith('repo_corrupt', /Invalid tar header.* after entry "first"/),
    );
  });

  it('passes a failing source through and closes what it opened', async () => {
    const tar = await makeTar([{ header: { name: 'f', mtime: T1 }, data: randomBytes(50_000) }]);
    const boom = new Error('chunk 3 is damaged');
    async function* failing() {
      yield tar.subarray(0, 20_000);
      throw boom;
    }
    const dir = await fresh();
    await assert.rejects(extractTar(failing(), dir, { archive: 'base.tar' }), (err) => err === boom);
    assert.deepEqual(await readdir(dir), ['f']);
  });

  it('reports a full disk as no_space, naming the file (a real 1 MiB tmpfs)', async (t) => {
    const dir = await fresh();
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
    if (mount.status !== 0) {
      const reason = `cannot mount a tmpfs (needs root): ${(mount.stderr || String(mount.error)).trim()}`;
      console.log(`SKIPPED tar no_space test: ${reason}`);
      t.skip(reason);
      return;
    }
    try {
      const tar = await makeTar([{ header: { name: 'big', mtime: T1 }, data: randomBytes(2 * 1024 * 1024) }]);
      await assert.rejects(
        extractTar(pieces(tar), dir, { archive: 'base.tar' }),
        rejectsWith('no_space', /^\[restore\] no space left writing \/.*\/big \(free space/),
      );
    } finally {
      spawnSync('umount', [dir]);
    }
  });

  it('reports a file-system failure as source_failed naming the entry', async () => {
    const tar = await makeTar([
      { header: { name: 'a', mtime: T1 }, data: 'file' },
      { header: { name: 'a/b', mtime: T1 }, data: 'under a file' },
    ]);
    await assert.rejects(
      extractTar(pieces(tar), await fresh(), { archive: 'base.tar' }),
      rejectsWith('source_failed', /cannot create \/.*\/a\/b: .*ENOTDIR/),
    );
    const twice = await makeTar([
      { header: { name: 'a', mtime: T1 }, data: 'one' },
      { header: { name: 'a', mtime: T1 }, data: 'two' },
    ]);
    await assert.rejects(
      extractTar(pieces(twice), await fresh(), { archive: 'base.tar' }),
      rejectsWith('repo_corrupt', /base\.tar holds "a" twice/),
    );
  });

  it('writes many files with little memory allowed, all complete', async () => {
    const files = Array.from({ length: 200 }, (_, i) => ({
      name: `base/5/${16000 + i}`,
      data: randomBytes(1 + ((i * 7919) % 40_000)),
    }));
    const tar = await makeTar(files.map((f) => ({ header: { name: f.name, mtime: T1 }, data: f.data })));
    const dir = await fresh();
    const stats = await extractTar(pieces(tar, 65_536), dir, {
      archive: 'base.tar',
      maxQueuedBytes: 100_000,
      maxOpenFiles: 3,
    });
    assert.equal(stats.files, files.length);
    for (const f of files) assert.deepEqual(await readFile(join(dir, f.name)), f.data);
  });

  it('gives every lent chunk back once, and only when nothing refers to it any more', async () => {
    // Files larger and smaller than a chunk, pax headers (long names), and chunk sizes that
    // cut headers and file data anywhere.
    const files = Array.from({ length: 60 }, (_, i) => ({
      name: `${i % 3 === 0 ? `${'d'.repeat(120)}/` : 'base/5/'}${16000 + i}`,
      data: randomBytes(i % 5 === 0 ? 200_000 + i : 1 + ((i * 7919) % 9_000)),
    }));
    const tar = await makeTar(files.map((f) => ({ header: { name: f.name, mtime: T1 }, data: f.data })));
    for (const size of [4093, 65_536, 300_000]) {
      const lent = new Set<Uint8Array>();
      let released = 0;
      // Each chunk is a copy of its own; released, it is overwritten, as a lender reusing the
      // memory would: a chunk given back too early corrupts what is still to be written.
      async function* lend(): AsyncIterable<Uint8Array> {
        for await (const piece of pieces(tar, size)) {
          const chunk = Buffer.from(piece);
          lent.add(chunk);
          yield chunk;
        }
      }
      const dir = await fresh();
      const stats = await extractTar(lend(), dir, {
        archive: 'base.tar',
        maxQueuedBytes: 100_000,
        maxOpenFiles: 3,
        release: (chunk) => {
          assert.ok(lent.delete(chunk), 'released a chunk not lent, or twice');
          chunk.fill(0xee);
          released++;
        },
      });
      assert.equal(lent.size, 0, `${lent.size} chunks never given back (chunks of ${size})`);
      assert.equal(released, Math.ceil(tar.length / size));
      assert.equal(stats.files, files.length);
      for (const f of files) assert.deepEqual(await readFile(join(dir, f.name)), f.data, f.name);
    }
  });

  it('gives lent chunks back when the extraction fails', async () => {
    const tar = await makeTar([
      { header: { name: 'a', mtime: T1 }, data: randomBytes(50_000) },
      { header: { name: '../escape', mtime: T1 }, data: 'x' },
      { header: { name: 'b', mtime: T1 }, data: randomBytes(50_000) },
    ]);
    const lent = new Set<Uint8Array>();
    async function* lend(): AsyncIterable<Uint8Array> {
      for await (const piece of pieces(tar, 8192)) {
        const chunk = Buffer.from(piece);
        lent.add(chunk);
        yield chunk;
      }
    }
    await assert.rejects(
      extractTar(lend(), await fresh(), { archive: 'base.tar', release: (c) => lent.delete(c) }),
      rejectsWith('repo_corrupt', /"\.\.\/escape"/),
    );
    assert.equal(lent.size, 0);
  });

  it('as root, gives entries the owner named in the archive, else its numeric ids', {
    skip: !asRoot,
  }, async () => {
    const tar = await makeTar([
      { header: { name: 'named', uname: 'nobody', uid: 1234, gid: 4321, mtime: T1 }, data: 'x' },
      {
        header: {
          name: 'numeric',
          uname: 'no-such-user-lb',
          gname: 'no-such-group-lb',
          uid: 1234,
          gid: 4321,
        },
      },
      {
        header: {
          name: 'dir/',
          type: 'directory',
          uname: 'no-such-user-lb',
          uid: 2345,
          gid: 5432,
          mode: 0o700,
        },
      },
    ]);
    const dir = await fresh();
    await extractTar(pieces(tar), dir, { archive: 'base.tar' });
    const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim();
    assert.equal((await stat(join(dir, 'named'))).uid, Number(nobody));
    const numeric = await stat(join(dir, 'numeric'));
    assert.deepEqual([numeric.uid, numeric.gid], [1234, 4321]);
    const d = await stat(join(dir, 'dir'));
    assert.deepEqual([d.uid, d.gid], [2345, 5432]);
  });
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A ustar header block plus data, with the name exactly as given. */
function rawHeader(name: string, data: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000600\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
  h.write(
    `${Math.floor(T1.getTime() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
  );
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const body = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  body.write(data);
  return Buffer.concat([h, body]);
}
