/**
 * @module sources/postgres/recovery-target
 * What `restore --at` (and the API's `at`) names: one of PostgreSQL's recovery targets.
 * Kept apart so the API schema checks the same forms without loading the restore code.
 */
import { LifeboatError } from '../../errors.js';

/** What `--at` names: PostgreSQL's recovery targets. */
export type RecoveryTarget =
  | { kind: 'latest' }
  | { kind: 'time'; time: number }
  | { kind: 'name'; name: string }
  | { kind: 'lsn'; lsn: string; value: bigint }
  | { kind: 'xid'; xid: string };

const TARGET_FORMS =
  'an ISO time (e.g. 2026-11-24T10:15:00Z), "latest", "name:POINT", "lsn:0/3000060" or "xid:NUMBER"';

/** Parses `--at`; a form PostgreSQL would not take is a usage error naming the forms. */
export function parseTarget(at: string): RecoveryTarget {
  const bad = (why: string) =>
    new LifeboatError('usage', `[restore] --at "${at}" ${why}: give ${TARGET_FORMS}`);
  if (at === 'latest') return { kind: 'latest' };
  if (at.startsWith('name:')) {
    const name = at.slice('name:'.length);
    if (name === '') throw bad('names no restore point');
    return { kind: 'name', name };
  }
  if (at.startsWith('lsn:')) {
    const lsn = at.slice('lsn:'.length).toUpperCase();
    if (!/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/.test(lsn))
      throw bad('is not an LSN (two hex numbers, as pg_current_wal_lsn() shows)');
    return { kind: 'lsn', lsn, value: lsnValue(lsn) };
  }
  if (at.startsWith('xid:')) {
    const xid = at.slice('xid:'.length);
    if (!/^[1-9][0-9]{0,19}$/.test(xid)) throw bad('is not a transaction id');
    return { kind: 'xid', xid };
  }
  const time = Date.parse(at);
  if (Number.isNaN(time)) throw bad('is not a point in time');
  return { kind: 'time', time };
}

/** An LSN ("16/B374D848") as a number; NaN-like input gives -1. */
export function lsnValue(lsn: string): bigint {
  const m = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn);
  return m ? (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`) : -1n;
}
