/**
 * @module test/helpers/repo-blobs
 * Where a local repository keeps a blob, read with the library and the test password, so a
 * damage test can flip a byte inside exactly the blob it means: one blob by id, or each
 * chunk of a snapshot's artifact with the byte range of the artifact it holds.
 */
import * as nodePath from 'node:path';
import { RepoContentStore } from '../../src/repo/content-store.js';
import { partsOf } from '../../src/repo/repo-parts.js';
import { Repository } from '../../src/repo/repository.js';
import { openBackend } from '../../src/storage/registry.js';

/** A blob's place on disk: its pack file, and its sealed bytes there. */
export interface BlobPlace {
  pack: string;
  /** The pack file's path. */
  file: string;
  offset: number;
  length: number;
  /** Plaintext length. */
  rawLength: number;
}

/** A chunk of an artifact: where it is stored, and which bytes of the artifact it holds. */
export interface ArtifactChunk extends BlobPlace {
  id: string;
  start: number;
  end: number;
}

/** Runs `fn` on the repository at `path` (a folder), index loaded; closes it afterwards. */
export async function withRepository<T>(
  path: string,
  fn: (repo: Repository, place: (id: string) => BlobPlace) => Promise<T>,
  password = 'test-password',
): Promise<T> {
  const repo = await Repository.open(await openBackend(path), password);
  try {
    await repo.loadIndex();
    const place = (id: string): BlobPlace => {
      const e = partsOf(repo).index.get(Buffer.from(id, 'hex'));
      if (!e) throw new Error(`blob ${id} is not in the index`);
      const file = nodePath.join(path, 'data', e.pack.slice(0, 2), e.pack);
      return { pack: e.pack, file, offset: e.offset, length: e.length, rawLength: e.rawLength };
    };
    return await fn(repo, place);
  } finally {
    await repo.close();
    await repo.closeStorage();
  }
}

/** The only artifact of a snapshot (root tree id `root`): its name and its chunks in order. */
export function artifactChunks(
  path: string,
  root: string,
): Promise<{ name: string; chunks: ArtifactChunk[] }> {
  return withRepository(path, async (repo, place) => {
    const [node] = (await new RepoContentStore(repo).loadTree(root)).nodes;
    let start = 0;
    const chunks = (node.content ?? []).map((id) => {
      const at = place(id);
      const chunk = { id, ...at, start, end: start + at.rawLength };
      start = chunk.end;
      return chunk;
    });
    return { name: node.name, chunks };
  });
}
