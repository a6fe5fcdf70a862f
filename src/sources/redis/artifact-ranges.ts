/**
 * @module sources/redis/artifact-ranges
 * Reads a stored artifact as a stream (checked against its recorded size and SHA-256 at the
 * end, as readArtifact does) while remembering where each chunk starts, so that a byte range
 * already passed can be read again from the repository without having been kept in memory:
 * how a value too large to buffer is sent to the server after the parser has measured it.
 */
import { createHash } from 'node:crypto';
import { LifeboatError } from '../../errors.js';
import type { ContentStore, TreeNode } from '../source.js';

export class RangeReadableArtifact {
  /** Start offset of each chunk read so far. */
  private readonly starts: number[] = [];
  private readonly sizes: number[] = [];

  constructor(
    private readonly store: ContentStore,
    private readonly node: TreeNode,
    private readonly onBytes?: (n: number) => void,
  ) {}

  async *stream(): AsyncIterable<Buffer> {
    const chunks = this.node.content ?? [];
    const hash = createHash('sha256');
    let offset = 0;
    for await (const chunk of this.store.readContent(chunks)) {
      this.starts.push(offset);
      this.sizes.push(chunk.length);
      offset += chunk.length;
      hash.update(chunk);
      this.onBytes?.(chunk.length);
      yield chunk;
    }
    if (this.node.size !== undefined && offset !== this.node.size) {
      throw new LifeboatError(
        'integrity',
        `[source] artifact "${this.node.name}" read back ${offset} bytes, the snapshot recorded ${this.node.size} (run lifeboat check --read-data)`,
      );
    }
    if (this.node.sha256 !== undefined && hash.digest('hex') !== this.node.sha256) {
      throw new LifeboatError(
        'integrity',
        `[source] artifact "${this.node.name}" does not match its recorded sha256 (run lifeboat check --read-data)`,
      );
    }
  }

  /** Bytes [start, start+length) again, from chunks the stream has already passed. */
  async *range(start: number, length: number): AsyncIterable<Buffer> {
    const end = start + length;
    let first = this.starts.length - 1;
    while (first > 0 && this.starts[first] > start) first--;
    let last = first;
    while (last + 1 < this.starts.length && this.starts[last + 1] < end) last++;
    if (first < 0 || this.starts[last] + this.sizes[last] < end) {
      throw new LifeboatError(
        'internal',
        `[source] range ${start}+${length} of "${this.node.name}" not read yet`,
      );
    }
    const ids = (this.node.content ?? []).slice(first, last + 1);
    let at = this.starts[first];
    for await (const chunk of this.store.readContent(ids)) {
      const from = Math.max(0, start - at);
      const to = Math.min(chunk.length, end - at);
      if (to > from) yield chunk.subarray(from, to);
      at += chunk.length;
    }
  }
}
