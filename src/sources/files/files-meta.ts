/**
 * @module sources/files/files-meta
 * How file names, link targets, times and hard-link paths are encoded in tree nodes, and back.
 * Paths stay Buffers end to end so names in any bytes survive a round trip.
 */
import type { BigIntStats } from 'node:fs';
import { LifeboatError } from '../../errors.js';
import type { NodeType, TreeNode } from '../source.js';

const SLASH = Buffer.from('/');

/** Joins a directory path and one name, as bytes. */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length > 0 && dir[dir.length - 1] === 0x2f) return Buffer.concat([dir, name]);
  return Buffer.concat([dir, SLASH, name]);
}

/**
 * A name as stored: `text` is the UTF-8 text, lossy (U+FFFD) when the bytes are not valid
 * UTF-8, in which case `raw` holds the exact bytes as base64.
 */
export function encodeBytes(bytes: Buffer): { text: string; raw?: string } {
  const text = bytes.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(bytes)) return { text };
  return { text, raw: bytes.toString('base64') };
}

/** The exact bytes of a node's name. */
export function nodeNameBytes(node: Pick<TreeNode, 'name' | 'nameRaw'>): Buffer {
  return node.nameRaw !== undefined ? Buffer.from(node.nameRaw, 'base64') : Buffer.from(node.name, 'utf8');
}

/** The exact bytes of a symlink's target. */
export function nodeTargetBytes(node: Pick<TreeNode, 'target' | 'targetRaw'>): Buffer {
  if (node.targetRaw !== undefined) return Buffer.from(node.targetRaw, 'base64');
  return Buffer.from(node.target ?? '', 'utf8');
}

/**
 * Rejects names that could escape the restore target ("..", "a/b", empty, NUL). The repository
 * is authenticated, so this only guards against a bug writing a bad tree.
 */
export function checkedNameBytes(node: TreeNode): Buffer {
  const bytes = nodeNameBytes(node);
  const bad =
    bytes.length === 0 ||
    bytes.includes(0x2f) ||
    bytes.includes(0) ||
    (bytes.length <= 2 && bytes.every((b) => b === 0x2e));
  if (bad) {
    throw new LifeboatError(
      'repo_corrupt',
      `[source:files] snapshot holds an invalid file name ${JSON.stringify(node.name)} (run lifeboat check)`,
    );
  }
  return bytes;
}

/**
 * Hard-link paths (`TreeNode.hardlinkTo`): segments relative to the snapshot root joined by
 * '/'. A segment is the node's `name` when the name is valid UTF-8; for a raw-byte name it is
 * a NUL character followed by the base64url (no padding) of the bytes. No real name contains
 * NUL or '/', and base64url has no '/', so the encoding is unambiguous.
 */
export function hardlinkSegment(nameBytes: Buffer): string {
  const { raw } = encodeBytes(nameBytes);
  if (raw === undefined) return nameBytes.toString('utf8');
  return '\0' + nameBytes.toString('base64url');
}

/** The name bytes of each segment of a `hardlinkTo` path. */
export function parseHardlinkPath(path: string): Buffer[] {
  return path
    .split('/')
    .map((s) => (s.startsWith('\0') ? Buffer.from(s.slice(1), 'base64url') : Buffer.from(s, 'utf8')));
}

/** Nanoseconds (bigint) as the decimal string stored in a node. */
export function nsString(ns: bigint): string {
  return ns.toString(10);
}

/**
 * Seconds for fs.utimes. libuv truncates to whole microseconds, and a double near 1.7e9 is
 * only exact to ~0.24 µs, so aim at the middle of the microsecond to land on the right one.
 */
export function nsToUtimesSeconds(ns: string | undefined, fallback: number): number {
  if (ns === undefined || !/^-?\d+$/.test(ns)) return fallback;
  const value = BigInt(ns);
  const sec = value / 1_000_000_000n;
  const usec = (value % 1_000_000_000n) / 1000n;
  const half = value >= 0n ? 500 : -500;
  return Number(sec) + (Number(usec) * 1000 + half) / 1e9;
}

/** The tree node type of an lstat result; undefined for kinds no tree stores. */
export function nodeType(st: BigIntStats): NodeType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  return undefined;
}
