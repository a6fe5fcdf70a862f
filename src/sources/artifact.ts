/**
 * @module sources/artifact
 * Storage of native artifacts (a SQLite file, a pg_dump archive, an RDB file) for sources
 * whose backup is one or more named files: a root tree of regular-file nodes, one per
 * artifact, each with its size and SHA-256 so a read can be checked end to end.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { type Clock, systemClock } from '../clock.js';
import { LifeboatError } from '../errors.js';
import type { ContentStore, DamagedRange, LentContent, TreeNode } from './source.js';

export interface Artifact {
  /** File name inside the snapshot (no slashes). */
  name: string;
  stream: AsyncIterable<Uint8Array>;
  /** Permission bits recorded for the artifact; 0o600 unless given. */
  mode?: number;
}

/** Stores each artifact and returns the id of a root tree listing them, sorted by name bytes. */
export async function saveArtifacts(
  store: ContentStore,
  artifacts: Artifact[],
  clock: Clock = systemClock,
): Promise<string> {
  return (await saveArtifactTree(store, artifacts, clock)).root;
}

/**
 * saveArtifacts that also hands back the nodes (size, SHA-256): the tree itself cannot be
 * read back before the repository is flushed.
 */
export async function saveArtifactTree(
  store: ContentStore,
  artifacts: Artifact[],
  clock: Clock = systemClock,
): Promise<{ root: string; nodes: TreeNode[] }> {
  const seen = new Set<string>();
  for (const a of artifacts) {
    if (a.name === '' || a.name.includes('/') || a.name === '.' || a.name === '..') {
      throw new LifeboatError('internal', `[source] artifact name "${a.name}" is not a plain file name`);
    }
    if (seen.has(a.name)) throw new LifeboatError('internal', `[source] artifact "${a.name}" given twice`);
    seen.add(a.name);
  }
  const nodes: TreeNode[] = [];
  // One at a time: artifacts are streams, often from child processes, and the store
  // chunks and uploads each in order.
  for (const a of artifacts) {
    const ref = await store.saveContent(a.stream, { sha256: true });
    const mtimeNs = (BigInt(clock.now().getTime()) * 1_000_000n).toString();
    nodes.push({
      name: a.name,
      type: 'file',
      mode: a.mode ?? 0o600,
      size: ref.size,
      content: ref.chunks,
      sha256: ref.sha256,
      mtimeNs,
    });
  }
  nodes.sort((x, y) => Buffer.compare(Buffer.from(x.name), Buffer.from(y.name)));
  return { root: await store.saveTree({ nodes }), nodes };
}

/**
 * The one artifact of a snapshot of a single-artifact engine: the one `meta.artifact` names,
 * or the only one. `engine` names the engine in the error.
 */
export async function pickArtifact(
  store: ContentStore,
  root: string,
  meta: Record<string, unknown>,
  engine: string,
): Promise<TreeNode> {
  const nodes = await loadArtifacts(store, root);
  const wanted = typeof meta.artifact === 'string' ? meta.artifact : undefined;
  const node = nodes.find((n) => n.name === wanted) ?? (nodes.length === 1 ? nodes[0] : undefined);
  if (!node) {
    throw new LifeboatError(
      'repo_corrupt',
      `[source:${engine}] snapshot root ${root.slice(0, 8)} holds no single artifact (run lifeboat check)`,
    );
  }
  return node;
}

/**
 * The file `restore --to` names for an artifact: a path or file: URL; an existing folder
 * receives the artifact by its name.
 */
export async function artifactTarget(to: string, artifact: string): Promise<string> {
  const path = resolve(to.startsWith('file:') ? fileURLToPath(to) : to);
  const info = await stat(path).catch(() => undefined);
  return info?.isDirectory() ? join(path, artifact) : path;
}

/** The artifact nodes of a snapshot root. */
export async function loadArtifacts(store: ContentStore, root: string): Promise<TreeNode[]> {
  const tree = await store.loadTree(root);
  return tree.nodes.filter((n) => n.type === 'file');
}

/**
 * Streams an artifact's content; after the last chunk, checks size and SHA-256 against the
 * node and throws an 'integrity' error naming the artifact on mismatch.
 */
export async function* readArtifact(
  store: ContentStore,
  node: TreeNode,
  onDamaged?: (d: DamagedRange) => void,
): AsyncIterable<Buffer> {
  if (!onDamaged) {
    // The first damaged chunk ends the read, named by the artifact and its bytes; its zeros
    // are never passed on.
    const fail = (d: DamagedRange): never => {
      throw damagedArtifact(node, d);
    };
    yield* checked(node, store.readContent(contentOf(node), { onDamaged: fail }), true);
    return;
  }
  // Damaged chunks read as zeros, reported: the SHA-256 cannot match then, and need not.
  let damaged = false;
  const report = (d: DamagedRange) => {
    damaged = true;
    onDamaged(d);
  };
  const chunks = store.readContent(contentOf(node), { onDamaged: report });
  yield* checked(node, chunks, true, () => damaged);
}

/** The error of a read that met damaged bytes of an artifact: names it and the bytes. */
export function damagedArtifact(node: TreeNode, d: DamagedRange): LifeboatError {
  return new LifeboatError(
    'integrity',
    `[source] artifact "${node.name}" is damaged: bytes ${d.start}-${d.end} cannot be read: ${d.reason}`,
  );
}

/**
 * readArtifact for reads whose speed matters (physical restores): the chunks are lent
 * (ContentStore.lendContent), the reader gives each back with `release`, and only the size
 * is checked. The whole-file SHA-256 finds nothing more here: every chunk is authenticated
 * against its id as it is read (pack.openVerified), and the chunk list comes from an
 * authenticated tree; it cost a core second per 1.6 GB on the main thread.
 */
export function lendArtifact(store: ContentStore, node: TreeNode): LentContent {
  const chunks = contentOf(node);
  const lent = store.lendContent?.(chunks);
  const stream = checked(node, lent ?? store.readContent(chunks), false);
  return { [Symbol.asyncIterator]: () => stream, release: (chunk) => lent?.release(chunk) };
}

function contentOf(node: TreeNode): string[] {
  if (node.type !== 'file' || !node.content) {
    throw new LifeboatError(
      'repo_corrupt',
      `[source] artifact "${node.name}" has no content in the snapshot`,
    );
  }
  if (node.damaged) {
    // A dump with bytes cut out would load as something it never was: refuse it whole.
    throw new LifeboatError(
      'integrity',
      `[source] artifact "${node.name}" lost ${node.damaged.lostBytes ?? 'some'} bytes to damage (cut by \`lifeboat repair snapshots\`); restore an older or newer snapshot`,
    );
  }
  return node.content;
}

/** Passes `chunks` on; after the last, checks size (and SHA-256) against the node. */
async function* checked(
  node: TreeNode,
  chunks: AsyncIterable<Buffer>,
  sha256: boolean,
  damaged = () => false,
): AsyncGenerator<Buffer> {
  const hash = sha256 ? createHash('sha256') : undefined;
  let size = 0;
  for await (const chunk of chunks) {
    hash?.update(chunk);
    size += chunk.length;
    yield chunk;
  }
  if (node.size !== undefined && size !== node.size) {
    throw new LifeboatError(
      'integrity',
      `[source] artifact "${node.name}" read back ${size} bytes, the snapshot recorded ${node.size} (run lifeboat check --read-data)`,
    );
  }
  if (hash && node.sha256 !== undefined && !damaged() && hash.digest('hex') !== node.sha256) {
    throw new LifeboatError(
      'integrity',
      `[source] artifact "${node.name}" does not match its recorded sha256 (run lifeboat check --read-data)`,
    );
  }
}

/**
 * Writes an artifact to `path` through a temporary name in the same folder, synced, then
 * renamed: the path holds either nothing new or the whole verified artifact. With
 * `onDamaged`, damaged chunks are reported and written as zeros (so the caller can tell
 * what they held, then must not use the file as a restore).
 */
export async function writeArtifactToFile(
  store: ContentStore,
  node: TreeNode,
  path: string,
  onBytes?: (n: number) => void,
  onDamaged?: (d: DamagedRange) => void,
): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.lifeboat-${randomBytes(6).toString('hex')}`);
  try {
    const source = Readable.from(countBytes(readArtifact(store, node, onDamaged), onBytes));
    await pipeline(source, createWriteStream(tmp, { mode: node.mode ?? 0o600, flags: 'wx' }));
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Passes a stream on, telling `onBytes` the size of each piece (for progress). */
export async function* countBytes<T extends Uint8Array>(
  stream: AsyncIterable<T>,
  onBytes: ((n: number) => void) | undefined,
): AsyncIterable<T> {
  for await (const chunk of stream) {
    onBytes?.(chunk.length);
    yield chunk;
  }
}
