/**
 * @module jobs/dump
 * `lifeboat dump`: hand back the native artifact of a snapshot (a pg_dump archive, an RDB
 * file, a SQLite database, or one file of a file tree), verified as it streams.
 */
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { LifeboatError } from '../errors.js';
import { RepoContentStore } from '../repo/content-store.js';
import type { Repository } from '../repo/repository.js';
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
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of store.readContent(node.content ?? [])) {
      hash.update(chunk);
      bytes += chunk.length;
      if (!req.output.write(chunk)) await new Promise((r) => req.output.once('drain', r));
    }
    if (bytes !== (node.size ?? 0) || (node.sha256 && hash.digest('hex') !== node.sha256)) {
      throw new LifeboatError(
        'integrity',
        `[dump] ${node.name} of snapshot ${id.slice(0, 8)} does not match its recorded size or hash`,
      );
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
