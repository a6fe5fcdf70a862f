/**
 * @module bench/reliability/sources
 * The two sources the reliability bench backs up. Each changes between backups (new bytes, so
 * backups upload) and describes its current state as what a snapshot taken now must restore
 * to: a folder of files by a manifest of every file's SHA-256, mode and mtime (no copy kept),
 * a SQLite database by a digest of its rows.
 */
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, openSync, readdirSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { compareManifests, hashTree } from '../measure.js';
import { type Kind, planTree, RandomSource, type Rng, sourceFor, writeFrom, writeTree } from '../tree-gen.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** What a snapshot of a source must restore to. */
export interface SourceState {
  /** A short description for the log (files and bytes, rows). */
  summary: string;
  /** Differences between a restore at `target` and this state; empty when identical. */
  diff(target: string): string[];
}

export interface SourceUnderTest {
  /** The source's name in the repository. */
  name: string;
  /** `lifeboat backup` arguments naming the source on the command line. */
  backupArgs: string[];
  /** Where `restore --to` writes a restore of this source, inside the empty folder `dir`. */
  restoreTarget(dir: string): string;
  /** Creates the first state. */
  create(rng: Rng): void;
  /** Changes the data: new bytes, rewritten and removed ones, other metadata. */
  change(rng: Rng): void;
  state(): SourceState;
}

interface Entry {
  path: string;
  size: number;
}

/** Files (relative paths and sizes) and folders under `root`. */
function listTree(root: string): { files: Entry[]; dirs: string[] } {
  const files: Entry[] = [];
  const dirs: string[] = [''];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        dirs.push(path);
        walk(path);
      } else files.push({ path, size: statSync(join(root, path)).size });
    }
  };
  walk('');
  return { files, dirs };
}

function writeNew(path: string, kind: Kind, label: string, size: number): void {
  const fd = openSync(path, 'w');
  try {
    writeFrom(fd, sourceFor(kind, 'log', label), size, null);
  } finally {
    closeSync(fd);
  }
}

/**
 * A folder of `size` bytes (bench/tree-gen's mix of text and random data in nested folders).
 * Each change adds about 3/10 of `size` in new files and drops old files to stay near `size`,
 * rewrites a range in the middle of one file, appends to two, and changes a mode and an mtime.
 */
export class FilesSource implements SourceUnderTest {
  readonly name = 'files';
  readonly backupArgs: string[];
  private step = 0;

  constructor(
    readonly root: string,
    readonly size: number,
  ) {
    this.backupArgs = ['--type', 'files', '--name', this.name, '--path', root];
  }

  restoreTarget(dir: string): string {
    return dir;
  }

  create(rng: Rng): void {
    writeTree(this.root, planTree(this.size, `reliability-${rng.u32()}`));
  }

  change(rng: Rng): void {
    const step = ++this.step;
    const { files, dirs } = listTree(this.root);
    const label = (what: string) => `change-${step}-${what}-${rng.u32()}`;
    const create = (i: number, size: number) => {
      const kind: Kind = rng.float() < 0.6 ? 'random' : 'text';
      const name = `s${step}-${i}.${kind === 'random' ? 'bin' : 'log'}`;
      writeNew(join(this.root, rng.pick(dirs), name), kind, label(name), size);
    };
    // New data: a few larger files (3/10 of the tree) and a handful of small ones.
    let budget = Math.max(MiB, Math.round((this.size * 3) / 10));
    let i = 0;
    for (; budget > 0; i++) {
      const n = Math.min(budget, rng.int(256 * KiB, 4 * MiB));
      create(i, n);
      budget -= n;
    }
    for (const end = i + 8; i < end; i++) create(i, rng.logInt(KiB, 64 * KiB));
    const large = files.filter((f) => f.size >= 64 * KiB);
    if (large.length > 0) {
      const f = rng.pick(large);
      const fd = openSync(join(this.root, f.path), 'r+');
      try {
        writeFrom(fd, new RandomSource(label('overwrite')), 32 * KiB, Math.floor(f.size / 2));
      } finally {
        closeSync(fd);
      }
    }
    for (let a = 0; a < 2 && files.length > 0; a++) {
      const fd = openSync(join(this.root, rng.pick(files).path), 'a');
      try {
        writeFrom(fd, sourceFor('text', 'log', label('append')), rng.int(KiB, 64 * KiB), null);
      } finally {
        closeSync(fd);
      }
    }
    // Older files go: as many small ones as were added, then larger ones until the tree is
    // back to its size, so the number of files and the bytes stay about the same.
    const small = files.filter((f) => f.size < 64 * KiB);
    for (let d = 0; d < 8 && small.length > 0; d++) {
      unlinkSync(join(this.root, small.splice(rng.int(0, small.length), 1)[0].path));
    }
    let total = listTree(this.root).files.reduce((sum, f) => sum + f.size, 0);
    while (total > this.size && large.length > 0) {
      const [f] = large.splice(rng.int(0, large.length), 1);
      unlinkSync(join(this.root, f.path));
      total -= f.size;
    }
    const kept = listTree(this.root).files;
    chmodSync(join(this.root, rng.pick(kept).path), rng.pick([0o600, 0o640, 0o644, 0o755]));
    const when = new Date(Date.UTC(2025, 0, 1) + rng.int(0, 365 * 86400) * 1000 + rng.int(0, 1000));
    utimesSync(join(this.root, rng.pick(kept).path), when, when);
  }

  state(): SourceState {
    const manifest = hashTree(this.root, { metadata: true });
    let files = 0;
    let bytes = 0;
    for (const e of manifest.values()) {
      if (e.size >= 0) {
        files++;
        bytes += e.size;
      }
    }
    return {
      summary: `${files} files, ${(bytes / MiB).toFixed(1)} MiB`,
      diff: (target) => compareManifests(manifest, hashTree(target, { metadata: true })),
    };
  }
}

/** Row count and SHA-256 over every row of `items`, after an integrity check. */
function digestDatabase(path: string): { rows: number; sha256: string } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new Error(`integrity_check of ${path}: ${String(integrity)}`);
    const hash = createHash('sha256');
    let rows = 0;
    const all = db.prepare('SELECT id, name, body FROM items ORDER BY id').raw();
    for (const [id, name, body] of all.iterate() as Iterable<[number, string, Buffer]>) {
      hash.update(`${id}\0${name}\0${body.length}\0`);
      hash.update(body);
      rows++;
    }
    return { rows, sha256: hash.digest('hex') };
  } finally {
    db.close();
  }
}

/**
 * A SQLite database of `rows` rows of 8-48 KiB (half random, half text) with an index. Each
 * change inserts a tenth as many new rows, renames a few, and deletes the oldest.
 */
export class SqliteSource implements SourceUnderTest {
  readonly name = 'app-db';
  readonly backupArgs: string[];
  private step = 0;

  constructor(
    readonly path: string,
    readonly rows: number,
  ) {
    this.backupArgs = ['--type', 'sqlite', '--name', this.name, '--path', path];
  }

  restoreTarget(dir: string): string {
    return join(dir, 'app.db');
  }

  private insert(db: Database.Database, rng: Rng, count: number): void {
    const insert = db.prepare('INSERT INTO items (name, body) VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const kind: Kind = rng.float() < 0.5 ? 'random' : 'text';
        const label = `row-${this.step}-${i}-${rng.u32()}`;
        insert.run(label, sourceFor(kind, 'csv', label).read(rng.int(8 * KiB, 48 * KiB)));
      }
    })();
  }

  create(rng: Rng): void {
    const db = new Database(this.path);
    try {
      db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, body BLOB NOT NULL)');
      db.exec('CREATE INDEX items_name ON items (name)');
      this.insert(db, rng, this.rows);
    } finally {
      db.close();
    }
  }

  change(rng: Rng): void {
    this.step++;
    const db = new Database(this.path);
    try {
      const added = Math.max(1, Math.round(this.rows / 10));
      this.insert(db, rng, added);
      const rename = db.prepare(
        'UPDATE items SET name = ? WHERE id = (SELECT id FROM items LIMIT 1 OFFSET ?)',
      );
      for (let i = 0; i < 5; i++) rename.run(`renamed-${this.step}-${i}`, rng.int(0, this.rows));
      db.prepare('DELETE FROM items WHERE id NOT IN (SELECT id FROM items ORDER BY id DESC LIMIT ?)').run(
        this.rows,
      );
    } finally {
      db.close();
    }
  }

  state(): SourceState {
    const want = digestDatabase(this.path);
    return {
      summary: `${want.rows} rows`,
      diff: (target) => {
        const got = digestDatabase(target);
        return got.rows === want.rows && got.sha256 === want.sha256
          ? []
          : [
              `rows ${got.rows} (expected ${want.rows}), sha256 ${got.sha256.slice(0, 16)}… (expected ${want.sha256.slice(0, 16)}…)`,
            ];
      },
    };
  }
}
