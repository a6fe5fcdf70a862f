/**
 * @module repo/maintenance/pack-verify
 * One pack read in full and judged, as `check --read-data` and `repair packs` both need it:
 * its content against its name, its header, the index's entries against the header, and
 * every blob opened and checked against its id.
 */
import { storageId } from '../crypto.js';
import { headerLength, type PackEntry, parsePackHeader } from '../pack.js';
import { partsOf } from '../repo-parts.js';
import type { Repository } from '../repository.js';
import { withoutCheckHint } from './damage-map.js';

export interface PackVerdict {
  /** What is wrong, in one phrase ("1 of 4 blobs do not open"); '' when the pack is whole. */
  problem: string;
  /** One message per finding (check's error lines). */
  findings: string[];
  /** Blobs that opened and matched their ids. */
  opened: number;
  /** Ids of the blobs that did not. */
  failed: Buffer[];
}

/** Judges the pack `name` whose bytes are `data`; `indexed` is what the index says it holds. */
export function verifyPack(
  repo: Repository,
  name: string,
  data: Buffer,
  indexed: readonly PackEntry[],
): PackVerdict {
  const problems: string[] = [];
  const findings: string[] = [];
  if (storageId(data) !== name) {
    findings.push(`pack ${name} is damaged: content does not match its name`);
    problems.push('content does not match its name');
  }
  let entries: readonly PackEntry[];
  try {
    const n = headerLength(data, data.length, name);
    entries = parsePackHeader(
      partsOf(repo).key,
      data.subarray(data.length - 4 - n, data.length - 4),
      data.length,
      name,
    );
    const byId = new Map(entries.map((x) => [x.id.toString('hex'), x]));
    for (const e of indexed) {
      const h = byId.get(e.id.toString('hex'));
      if (!h || h.offset !== e.offset || h.length !== e.length) {
        findings.push(
          `pack ${name}: index entry for blob ${e.id.toString('hex').slice(0, 8)} does not match the pack header`,
        );
      }
    }
  } catch (err) {
    findings.push(`pack ${name}: ${withoutCheckHint(err)}`);
    problems.push('its header does not open');
    // The index still says where its blobs are: each is tried on its own.
    entries = indexed;
  }
  const failed: Buffer[] = [];
  let opened = 0;
  for (const e of entries) {
    try {
      partsOf(repo).reader.openEntry({ ...e, pack: name }, data.subarray(e.offset, e.offset + e.length));
      opened++;
    } catch (err) {
      findings.push(withoutCheckHint(err));
      failed.push(e.id);
    }
  }
  if (failed.length > 0) problems.push(`${failed.length} of ${entries.length} blobs do not open`);
  return { problem: problems.join('; '), findings, opened, failed };
}
