/**
 * @module jobs/dump
 * `lifeboat dump`: hand back the native artifact of a snapshot (a pg_dump archive, an RDB
 * file, a SQLite database, or one file of a file tree), verified as it streams.
 */
import type { Writable } from 'node:stream';
import { LifeboatError } from '../errors.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
import { readArtifact } from '../sources/artifact.js';
import type { TreeNode } from '../sources/source.js';
import { findSnapshot } from './snapshot-select.js';

export interface DumpRequest {
  snapshot: string;
  source?: string;
  /** Path inside the snapshot; needed when the root holds more than one file. */
  path?: string;
  output: Writable;
}

export async function runDump(repo: Repository, req: DumpRequest): Promise<{ name: string; bytes: number }> {
  const lock = await repo.lock(false, 'dump');
  try {
    const { id, snapshot } = await findSnapshot(repo, req.snapshot, req.source);
    await repo.loadIndex();
    const store = new RepoContentStore(repo);
    const node = await locate(store, snapshot.root, req.path, id);
    let bytes = 0;
    // readArtifact checks size and SHA-256 at the end, and names a damaged byte range.
    for await (const chunk of readArtifact(store, node)) {
      bytes += chunk.length;
      if (!req.output.write(chunk)) await new Promise((r) => req.output.once('drain', r));
    }
    return { name: node.name, bytes };
  } finally {
    await lock.release().catch(() => {});
  }
}

async function locate(
  store: RepoContentStore,
  root: string,
  path: string | undefined,
  id: string,
): Promise<TreeNode> {
  let tree = await store.loadTree(root);
  if (!path) {
    const files = tree.nodes.filter((n) => n.type === 'file');
    if (tree.nodes.length === 1 && files.length === 1) return files[0];
    throw new LifeboatError(
      'usage',
      `[dump] snapshot ${id.slice(0, 8)} holds ${tree.nodes.length} entries; name one with --path (e.g. --path ${tree.nodes[0]?.name ?? 'FILE'}), or use \`lifeboat restore\` for a tree`,
    );
  }
  const parts = path.split('/').filter((p) => p.length > 0);
  for (let i = 0; i < parts.length; i++) {
    const node = tree.nodes.find((n) => n.name === parts[i]);
    if (!node) break;
    if (i === parts.length - 1) {
      if (node.type !== 'file') {
        throw new LifeboatError(
          'usage',
          `[dump] ${path} is a ${node.type}, not a file; use \`lifeboat restore --include ${path}\``,
        );
      }
      return node;
    }
    if (node.type !== 'dir' || !node.subtree) break;
    tree = await store.loadTree(node.subtree);
  }
  throw new LifeboatError('not_found', `[dump] no file ${path} in snapshot ${id.slice(0, 8)}`);
}
