/**
 * @module catalog/process-owner
 * This process as recorded in `jobs.owner`, apart from either catalog home so that the job
 * queue can name it without loading SQLite.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** This process, as recorded in `jobs.owner`: host, pid, and a nonce against pid reuse. */
export const PROCESS_OWNER = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
