/**
 * @module bench/tree-gen
 * Deterministic test trees for the bench: a "day one" tree of mixed compressible text and
 * random data in files of varied sizes and nested folders, and a "next day" change set that
 * rewrites, appends, adds and deletes about 2% of the bytes.
 *
 * Everything follows from the seed: random bytes are AES-256-CTR keystream (fast with AES-NI),
 * text is log, prose and CSV lines drawn from a small vocabulary with an sfc32 generator.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
/** Bytes generated and written at a time. */
const BLOCK = 4 * MiB;

/** Small, fast, seedable PRNG (sfc32), seeded from the SHA-256 of a label. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(label: string) {
    const h = createHash('sha256').update(label).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12);
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo));
  }

  /** Log-uniform integer in [lo, hi): as many 1–2 KiB values as 32–64 KiB ones. */
  logInt(lo: number, hi: number): number {
    return Math.min(hi - 1, Math.floor(lo * (hi / lo) ** this.float()));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)];
  }
}

// ---------------------------------------------------------------------------------------------
// Content sources

export type Kind = 'text' | 'random';
export type TextStyle = 'log' | 'prose' | 'csv';

/** A stream of bytes: `read(n)` returns the next n bytes. */
export interface ByteSource {
  read(n: number): Buffer;
}

/** AES-256-CTR keystream keyed by the label: incompressible, ~GB/s. */
export class RandomSource implements ByteSource {
  private readonly cipher;
  private zeros = Buffer.alloc(0);

  constructor(label: string) {
    const key = createHash('sha256').update(`random:${label}`).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  read(n: number): Buffer {
    if (this.zeros.length < n) this.zeros = Buffer.alloc(Math.max(n, 64 * KiB));
    return this.cipher.update(this.zeros.subarray(0, n));
  }
}

const LEVEL_BYTES = ['INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'DEBUG', 'WARN', 'ERROR'].map((l) =>
  Buffer.from(`${l} `, 'latin1'),
);
const ascii = (text: string) => Buffer.from(text, 'latin1');
const [SPACE, DOT, DASH, COMMA, COLON, NL] = [32, 46, 45, 44, 58, 10];
const OPEN = ascii('[');
const CLOSE = ascii('] ');
const REQUEST = ascii(' request=');
const TOOK = ascii(' took=');
const MS_NL = ascii('ms\n');
const PARAGRAPH = ascii('\n\n');
const CONSONANTS = 'bcdfghklmnprstvwz';
const VOWELS = 'aeiou';
let vocabulary: Buffer[] | undefined;

/** 600 pronounceable pseudo-words, the same for every seed. */
function wordBytes(): Buffer[] {
  if (vocabulary) return vocabulary;
  const rng = new Rng('vocabulary');
  const seen = new Set<string>();
  while (seen.size < 600) {
    let w = '';
    const syllables = 1 + Math.floor(rng.float() * rng.float() * 4);
    for (let s = 0; s < syllables; s++) w += rng.pick([...CONSONANTS]) + rng.pick([...VOWELS]);
    if (rng.float() < 0.3) w += rng.pick([...CONSONANTS]);
    seen.add(w);
  }
  vocabulary = [...seen].map(ascii);
  return vocabulary;
}

let wordStrings: string[] | undefined;
const words = (): string[] => {
  wordStrings ??= wordBytes().map((w) => w.toString('latin1'));
  return wordStrings;
};

/**
 * Text-like lines from a 600-word vocabulary with a skewed (Zipf-like) frequency, plus
 * timestamps, ids and numbers: compresses roughly 3–4× with zstd, like real logs and documents.
 */
export class TextSource implements ByteSource {
  private readonly rng: Rng;
  private readonly vocab = wordBytes();
  /** Output being built; `[0, pos)` is generated and not yet returned. */
  private out = Buffer.alloc(0);
  private pos = 0;
  private time: number;
  private line = 0;
  private day = -1;
  private dayText = Buffer.alloc(0);

  constructor(
    label: string,
    private readonly style: TextStyle,
  ) {
    this.rng = new Rng(`text:${label}`);
    this.time = Date.UTC(2026, 0, 1) + this.rng.int(0, 300 * 86400) * 1000;
  }

  private put(bytes: Uint8Array): void {
    const out = this.out;
    let pos = this.pos;
    for (let i = 0; i < bytes.length; i++) out[pos++] = bytes[i];
    this.pos = pos;
  }

  private byte(b: number): void {
    this.out[this.pos++] = b;
  }

  /** Decimal digits of a non-negative integer, left-padded with zeros to `width`. */
  private int(n: number, width = 1): void {
    let digits = 1;
    for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++;
    const len = Math.max(width, digits);
    let v = n;
    for (let i = len - 1; i >= 0; i--) {
      this.out[this.pos + i] = 48 + (v % 10);
      v = Math.floor(v / 10);
    }
    this.pos += len;
  }

  private hex8(n: number): void {
    for (let i = 7; i >= 0; i--) {
      const d = (n >>> (4 * (7 - i))) & 15;
      this.out[this.pos + i] = d < 10 ? 48 + d : 87 + d;
    }
    this.pos += 8;
  }

  /** A word, skewed towards the start of the vocabulary (Zipf-like). */
  private word(): void {
    const r = this.rng.float();
    this.put(this.vocab[Math.floor(r * r * r * this.vocab.length)]);
  }

  private sentence(count: number): void {
    this.word();
    for (let i = 1; i < count; i++) {
      this.byte(SPACE);
      this.word();
    }
  }

  /** Appends one line (at most ~300 bytes). */
  private nextLine(): void {
    const rng = this.rng;
    this.line++;
    switch (this.style) {
      case 'log': {
        this.time += rng.int(0, 2000);
        const day = Math.floor(this.time / 86400000);
        if (day !== this.day) {
          this.day = day;
          this.dayText = ascii(new Date(day * 86400000).toISOString().slice(0, 11));
        }
        const inDay = Math.floor((this.time % 86400000) / 1000);
        this.put(this.dayText);
        this.int(Math.floor(inDay / 3600), 2);
        this.byte(COLON);
        this.int(Math.floor(inDay / 60) % 60, 2);
        this.byte(COLON);
        this.int(inDay % 60, 2);
        this.byte(DOT);
        this.int(this.time % 1000, 3);
        this.byte(90); // Z
        this.byte(SPACE);
        this.put(rng.pick(LEVEL_BYTES));
        this.put(OPEN);
        this.put(this.vocab[rng.int(0, 24)]);
        this.byte(DASH);
        this.int(rng.int(1, 9));
        this.put(CLOSE);
        this.sentence(rng.int(3, 12));
        this.put(REQUEST);
        this.hex8(rng.u32());
        this.put(TOOK);
        this.int(rng.int(1, 900));
        this.put(MS_NL);
        break;
      }
      case 'csv':
        this.int(this.line);
        this.byte(COMMA);
        this.word();
        this.byte(COMMA);
        this.word();
        this.byte(SPACE);
        this.word();
        this.byte(COMMA);
        this.int(rng.int(0, 100000));
        this.byte(COMMA);
        this.int(rng.int(0, 1000));
        this.byte(DOT);
        this.int(rng.int(0, 100), 2);
        this.byte(COMMA);
        this.put(rng.pick(LEVEL_BYTES));
        this.byte(NL);
        break;
      default: {
        this.sentence(rng.int(6, 16));
        this.byte(DOT);
        const r = rng.float();
        if (r < 0.06) this.put(PARAGRAPH);
        else if (r < 0.5) this.byte(NL);
        else this.byte(SPACE);
      }
    }
  }

  read(n: number): Buffer {
    if (this.out.length < n + 1024) {
      const grown = Buffer.allocUnsafe(n + 1024);
      this.out.copy(grown, 0, 0, this.pos);
      this.out = grown;
    }
    while (this.pos < n) this.nextLine();
    const result = Buffer.from(this.out.subarray(0, n));
    this.out.copy(this.out, 0, n, this.pos);
    this.pos -= n;
    return result;
  }
}

export function sourceFor(kind: Kind, style: TextStyle, label: string): ByteSource {
  return kind === 'random' ? new RandomSource(label) : new TextSource(label, style);
}

/** Writes `length` bytes from `source` to `fd` at `position` (or the end when null). */
export function writeFrom(fd: number, source: ByteSource, length: number, position: number | null): void {
  let done = 0;
  while (done < length) {
    const n = Math.min(BLOCK, length - done);
    const buf = source.read(n);
    let off = 0;
    while (off < n) off += writeSync(fd, buf, off, n - off, position === null ? null : position + done + off);
    done += n;
  }
}

// ---------------------------------------------------------------------------------------------
// The day-one tree

export interface FileSpec {
  /** Relative path, `/`-separated. */
  path: string;
  size: number;
  kind: Kind;
  style: TextStyle;
  sizeClass: 'small' | 'medium' | 'large';
}

export interface TreePlan {
  seed: string;
  size: number;
  dirs: string[];
  files: FileSpec[];
  textBytes: number;
  randomBytes: number;
}

const TEXT_EXT: Record<TextStyle, string> = { log: 'log', prose: 'txt', csv: 'csv' };
const RANDOM_EXT = ['bin', 'dat', 'jpg', 'gz', 'enc'];

/**
 * Plans a tree of `size` bytes: ~25% in small files (1–64 KiB, log-uniform: many of them),
 * ~40% in medium files (1–16 MiB), ~35% in a few large files (64–256 MiB at 1 GiB, scaled
 * down for smaller trees); half the bytes text, half random; spread over nested folders.
 */
export function planTree(size: number, seed: string): TreePlan {
  const rng = new Rng(`${seed}/plan`);
  const scale = Math.min(1, size / GiB);
  const classes = [
    {
      sizeClass: 'large' as const,
      share: 0.35,
      lo: Math.round(64 * MiB * scale),
      hi: Math.round(256 * MiB * scale),
    },
    { sizeClass: 'medium' as const, share: 0.4, lo: 1 * MiB, hi: 16 * MiB },
    { sizeClass: 'small' as const, share: 0.25, lo: 1 * KiB, hi: 64 * KiB + 1 },
  ];
  const sized: Omit<FileSpec, 'path'>[] = [];
  let text = 0;
  let random = 0;
  let planned = 0;
  for (const [i, c] of classes.entries()) {
    // The last class takes whatever is left, so the total is exact.
    const classBytes = i === classes.length - 1 ? size - planned : Math.round(size * c.share);
    // Text share of this class: what makes the whole tree half text, given the classes
    // before it, but between 20% and 80% so every class mixes both kinds.
    const later = size - planned - classBytes;
    const wanted = size / 2 - text - later / 2;
    const fraction = Math.min(0.8, Math.max(0.2, wanted / classBytes));
    const meanSize = c.sizeClass === 'small' ? (c.hi - c.lo) / Math.log(c.hi / c.lo) : (c.lo + c.hi) / 2;
    let budget = classBytes;
    let classText = 0;
    while (budget > 0) {
      let fileSize = c.sizeClass === 'small' ? rng.logInt(c.lo, c.hi) : rng.int(c.lo, c.hi);
      if (fileSize > budget || budget - fileSize < c.lo / 2) fileSize = budget;
      // Text when behind the class's text share, random when ahead; a coin flip when even.
      const deficit = fraction * (classBytes - budget) - classText;
      const kind: Kind = rng.float() < 0.5 + deficit / meanSize ? 'text' : 'random';
      if (kind === 'text') {
        text += fileSize;
        classText += fileSize;
      } else random += fileSize;
      const style: TextStyle = rng.pick(['log', 'log', 'prose', 'csv'] as const);
      sized.push({ size: fileSize, kind, style, sizeClass: c.sizeClass });
      budget -= fileSize;
      planned += fileSize;
    }
  }

  // Folders: a random tree up to 5 levels deep, about 40 files per folder.
  const vocab = words();
  const dirs = [''];
  const depth = [0];
  const dirCount = Math.max(6, Math.round(sized.length / 40));
  for (let i = 1; i < dirCount; i++) {
    let parent = rng.int(0, dirs.length);
    while (depth[parent] >= 5) parent = rng.int(0, dirs.length);
    dirs.push(`${dirs[parent] ? `${dirs[parent]}/` : ''}${rng.pick(vocab)}-${i}`);
    depth.push(depth[parent] + 1);
  }
  const files = sized.map((f, i) => {
    const dir = rng.pick(dirs);
    const ext = f.kind === 'text' ? TEXT_EXT[f.style] : rng.pick(RANDOM_EXT);
    const name = `${rng.pick(vocab)}-${i}.${ext}`;
    return { ...f, path: dir ? `${dir}/${name}` : name };
  });
  return { seed, size, dirs, files, textBytes: text, randomBytes: random };
}

/** Writes a file of `spec` under `root`, its content determined by `label`. */
function writeFile(root: string, spec: FileSpec, label: string): void {
  const fd = openSync(join(root, spec.path), 'w');
  try {
    writeFrom(fd, sourceFor(spec.kind, spec.style, label), spec.size, null);
  } finally {
    closeSync(fd);
  }
}

/** Writes the planned tree under `root` (created; should be empty). */
export function writeTree(root: string, plan: TreePlan): void {
  for (const dir of plan.dirs) mkdirSync(join(root, dir), { recursive: true });
  for (const spec of plan.files) writeFile(root, spec, `${plan.seed}/${spec.path}`);
}

// ---------------------------------------------------------------------------------------------
// The next-day change

export type Change =
  | { op: 'overwrite'; path: string; offset: number; length: number; kind: Kind; style: TextStyle }
  | { op: 'append'; path: string; length: number; style: TextStyle }
  | { op: 'create'; spec: FileSpec }
  | { op: 'delete'; path: string; size: number };

export interface ChangeSet {
  changes: Change[];
  /** Bytes written (overwritten, appended, created). */
  bytesChanged: number;
  /** Bytes of deleted files. */
  bytesDeleted: number;
  counts: Record<Change['op'], number>;
}

/**
 * Plans the next day's change, about 2% of the tree's bytes: ~1.1% overwritten in the
 * middle of existing files, ~0.4% appended to a few text files, ~0.5% in new files (one in
 * a new folder), and a few small files deleted.
 */
export function planNextDay(plan: TreePlan, seed: string): ChangeSet {
  const rng = new Rng(`${seed}/next-day`);
  const touched = new Set<string>();
  const changes: Change[] = [];
  const counts = { overwrite: 0, append: 0, create: 0, delete: 0 };
  let bytesChanged = 0;
  let bytesDeleted = 0;
  const untouched = (pred: (f: FileSpec) => boolean): FileSpec | undefined => {
    const candidates = plan.files.filter((f) => !touched.has(f.path) && pred(f));
    return candidates.length ? rng.pick(candidates) : undefined;
  };

  // Overwrites: a range around the middle of a file, 16 KiB – 4 MiB (at most half the file).
  let budget = Math.round(plan.size * 0.011);
  while (budget > 0) {
    // Mostly medium and large files; some small ones (edited documents).
    const small = rng.float() < 0.25;
    const f =
      untouched((x) => x.size >= 16 * KiB && (x.sizeClass === 'small') === small) ??
      untouched((x) => x.size >= 16 * KiB);
    if (!f) break;
    const length = Math.max(1, Math.min(budget, Math.floor(f.size / 2), rng.logInt(16 * KiB, 4 * MiB)));
    const jitter = rng.int(-Math.floor(f.size / 8), Math.floor(f.size / 8) + 1);
    const offset = Math.max(0, Math.min(f.size - length, Math.floor((f.size - length) / 2) + jitter));
    changes.push({ op: 'overwrite', path: f.path, offset, length, kind: f.kind, style: f.style });
    touched.add(f.path);
    budget -= length;
    bytesChanged += length;
    counts.overwrite++;
  }

  // Appends: log files grow.
  const appendCount = 6;
  const appendBytes = Math.round(plan.size * 0.004);
  for (let i = 0; i < appendCount; i++) {
    const f = untouched((x) => x.kind === 'text' && x.style === 'log') ?? untouched((x) => x.kind === 'text');
    if (!f) break;
    const length = Math.max(1, Math.round(appendBytes / appendCount));
    changes.push({ op: 'append', path: f.path, length, style: f.style });
    touched.add(f.path);
    bytesChanged += length;
    counts.append++;
  }

  // New files: a dozen small ones around the tree, the rest in one file in a new folder.
  let newBudget = Math.round(plan.size * 0.005);
  const vocab = words();
  for (let i = 0; newBudget > 0; i++) {
    const last = i >= 12;
    const size = last ? newBudget : Math.min(newBudget, rng.logInt(KiB, 64 * KiB + 1));
    const kind: Kind = i % 2 === 0 ? 'text' : 'random';
    const style: TextStyle = rng.pick(['log', 'prose', 'csv'] as const);
    const ext = kind === 'text' ? TEXT_EXT[style] : rng.pick(RANDOM_EXT);
    const dir = last ? 'new-day-two' : rng.pick(plan.dirs);
    const path = `${dir ? `${dir}/` : ''}${rng.pick(vocab)}-new-${i}.${ext}`;
    changes.push({ op: 'create', spec: { path, size, kind, style, sizeClass: last ? 'medium' : 'small' } });
    newBudget -= size;
    bytesChanged += size;
    counts.create++;
  }

  // Deletions: a few small files (0.5% of them, at least 3).
  const smallCount = plan.files.filter((f) => f.sizeClass === 'small').length;
  const deleteCount = Math.max(3, Math.round(smallCount * 0.005));
  for (let i = 0; i < deleteCount; i++) {
    const f = untouched((x) => x.sizeClass === 'small');
    if (!f) break;
    changes.push({ op: 'delete', path: f.path, size: f.size });
    touched.add(f.path);
    bytesDeleted += f.size;
    counts.delete++;
  }
  return { changes, bytesChanged, bytesDeleted, counts };
}

/** Applies the next-day change to a copy of the day-one tree at `root`. */
export function applyNextDay(root: string, set: ChangeSet, seed: string): void {
  for (const c of set.changes) {
    switch (c.op) {
      case 'overwrite': {
        const fd = openSync(join(root, c.path), 'r+');
        try {
          writeFrom(fd, sourceFor(c.kind, c.style, `${seed}/day2/${c.path}`), c.length, c.offset);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'append': {
        const fd = openSync(join(root, c.path), 'a');
        try {
          writeFrom(fd, sourceFor('text', c.style, `${seed}/day2/${c.path}`), c.length, null);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'create':
        mkdirSync(dirname(join(root, c.spec.path)), { recursive: true });
        writeFile(root, c.spec, `${seed}/day2/${c.spec.path}`);
        break;
      case 'delete':
        unlinkSync(join(root, c.path));
        break;
    }
  }
}
