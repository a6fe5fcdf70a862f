/**
 * @module test/helpers/data-gen
 * Deterministic test data: a byte stream from a seed (AES-256-CTR as a fast PRNG), text that
 * compresses well, and whole file trees of a given size mixing the two. The same seed gives
 * the same bytes on every run, so a failure can be reproduced.
 */
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';

/** A seeded stream of pseudo-random bytes and numbers. */
export class SeededRandom {
  private readonly cipher;
  private pool: Buffer = Buffer.alloc(0);
  private at = 0;

  constructor(seed: string) {
    const key = createHash('sha256').update(`key:${seed}`).digest();
    const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16);
    this.cipher = createCipheriv('aes-256-ctr', key, iv);
  }

  /** `n` pseudo-random bytes. */
  bytes(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }

  /** A number in [0, 1). */
  next(): number {
    if (this.at + 4 > this.pool.length) {
      this.pool = this.bytes(4096);
      this.at = 0;
    }
    const v = this.pool.readUInt32LE(this.at);
    this.at += 4;
    return v / 2 ** 32;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
}

const WORDS = (
  'lifeboat backup restore snapshot pack index chunk tree blob repository verify ' +
  'postgres mariadb redis mongodb sqlite table row column key value page journal ' +
  'commit rollback checkpoint segment archive retention daily weekly monthly yearly'
).split(' ');

/** `n` bytes of log-like text: compresses several times over, yet differs between seeds. */
export function compressibleText(rnd: SeededRandom, n: number): Buffer {
  const parts: string[] = [];
  let size = 0;
  let line = 0;
  while (size < n) {
    const words: string[] = [];
    const count = rnd.int(4, 12);
    for (let i = 0; i < count; i++) words.push(WORDS[rnd.int(0, WORDS.length - 1)]);
    const s = `${String(line++).padStart(8, '0')} level=${rnd.int(0, 3)} ${words.join(' ')}\n`;
    parts.push(s);
    size += s.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

export interface TreeSpec {
  /** Seed of every byte and size. */
  seed: string;
  /** Total bytes of file content (within a few bytes). */
  bytes: number;
  files: number;
  /** Sub-folders the files are spread over (nested two deep). */
  dirs?: number;
  /** Share of the bytes that is incompressible random data (0..1). */
  randomShare?: number;
}

export interface TreeFacts {
  files: number;
  bytes: number;
  randomBytes: number;
  paths: string[];
}

/**
 * Writes a tree of `spec.files` files totalling `spec.bytes` under `dir` (created if need be):
 * log-uniform sizes from a few hundred bytes to several MiB, some files random, some text,
 * some a mix of both.
 */
export async function writeTree(dir: string, spec: TreeSpec): Promise<TreeFacts> {
  const rnd = new SeededRandom(spec.seed);
  const dirs = Math.max(1, spec.dirs ?? Math.ceil(spec.files / 20));
  const randomShare = spec.randomShare ?? 0.7;
  const weights = Array.from({ length: spec.files }, () => 2 ** (rnd.next() * 14));
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((w) => Math.floor((w / sum) * spec.bytes));
  sizes[0] += spec.bytes - sizes.reduce((a, b) => a + b, 0);
  const facts: TreeFacts = { files: 0, bytes: 0, randomBytes: 0, paths: [] };
  for (let i = 0; i < spec.files; i++) {
    const d = i % dirs;
    const folder = nodePath.join(dir, `group-${d % 4}`, `dir-${String(d).padStart(3, '0')}`);
    await fs.mkdir(folder, { recursive: true });
    const size = sizes[i];
    // Keep the random share of the bytes written so far near the target.
    const wantRandom = facts.randomBytes < randomShare * (facts.bytes + size);
    let data: Buffer;
    if (i % 7 === 3) {
      const half = Math.floor(size / 2);
      data = Buffer.concat([rnd.bytes(half), compressibleText(rnd, size - half)]);
      facts.randomBytes += half;
    } else if (wantRandom) {
      data = rnd.bytes(size);
      facts.randomBytes += size;
    } else {
      data = compressibleText(rnd, size);
    }
    const path = nodePath.join(folder, `file-${String(i).padStart(4, '0')}.${wantRandom ? 'bin' : 'log'}`);
    await fs.writeFile(path, data);
    facts.files++;
    facts.bytes += size;
    facts.paths.push(path);
  }
  return facts;
}
