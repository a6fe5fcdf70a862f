/**
 * @module bench/chunker
 * Chunker throughput on random data: `node dist/bench/chunker.js [MiB] [pieceKiB]`.
 */
import { randomBytes } from 'node:crypto';
import { Chunker, DEFAULT_CHUNKER, gearTable } from '../src/repo/chunker.js';

const mib = Number(process.argv[2] ?? 256);
const pieceSize = Number(process.argv[3] ?? 64) * 1024;
const data = randomBytes(mib * 1024 * 1024);
const chunker = new Chunker(DEFAULT_CHUNKER, gearTable(randomBytes(32)));

async function* pieces(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += pieceSize) yield data.subarray(i, i + pieceSize);
}

for (let round = 0; round < 5; round++) {
  const start = process.hrtime.bigint();
  let count = 0;
  let bytes = 0;
  for await (const c of chunker.chunk(pieces())) {
    count++;
    bytes += c.length;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = bytes / 1024 / 1024 / seconds;
  console.log(
    `round ${round}: ${mib} MiB in ${count} chunks (mean ${(bytes / count / 1024).toFixed(0)} KiB), ${rate.toFixed(0)} MiB/s`,
  );
}
