/**
 * @module repo/seal-worker
 * Worker thread body: compresses and seals blobs off the main thread, so a backup uses
 * every core. Receives the encryption key once, then (seq, type, id, data) messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { compress } from './compress.js';
import { type SealSpec, storageId } from './crypto.js';
import type { BlobType } from './pack.js';
import { FLAG_ZSTD, sealBlob } from './pack.js';

export interface SealTask {
  seq: number;
  /**
   * 'hash' asks for the SHA-256 (hex) of `data`, returned in `digest`; 'seal+hash' seals and
   * also returns the SHA-256 of the plaintext.
   */
  op?: 'hash' | 'seal+hash';
  type: BlobType;
  id: Uint8Array;
  data: Uint8Array;
}

export interface SealDone {
  seq: number;
  flags: number;
  sealed: Uint8Array;
  digest?: string;
  error?: string;
}

const data = workerData as { epoch?: number; key?: Uint8Array; box?: Uint8Array; level: number };
const spec: SealSpec = data.box
  ? { box: Buffer.from(data.box) }
  : { epoch: data.epoch!, key: Buffer.from(data.key!) };
const level = data.level;

parentPort?.on('message', (task: SealTask) => {
  try {
    const data = Buffer.from(task.data.buffer, task.data.byteOffset, task.data.byteLength);
    if (task.op === 'hash') {
      // The pack's buffer came here whole (transferred); it goes back the same way.
      parentPort?.postMessage({ seq: task.seq, flags: 0, sealed: task.data, digest: storageId(data) }, [
        task.data.buffer as ArrayBuffer,
      ]);
      return;
    }
    const compressed = compress(data, level);
    const flags = compressed ? FLAG_ZSTD : 0;
    const sealed = sealBlob(spec, task.type, flags, Buffer.from(task.id), compressed ?? data);
    const done: SealDone = { seq: task.seq, flags, sealed };
    if (task.op === 'seal+hash') done.digest = storageId(data);
    parentPort?.postMessage(done, ownsBuffer(sealed) ? [sealed.buffer as ArrayBuffer] : []);
  } catch (err) {
    parentPort?.postMessage({ seq: task.seq, flags: 0, sealed: new Uint8Array(0), error: String(err) });
  }
});

/** True when the view spans its whole ArrayBuffer, so transferring it detaches nothing else. */
export function ownsBuffer(b: Uint8Array): boolean {
  return (
    b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer)
  );
}
