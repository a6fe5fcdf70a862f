/**
 * @module bench/redis/parse
 * The RDB parser alone over a file, as a backup runs it (counting keys, checking the CRC-64)
 * and as a key-by-key restore runs it (every value captured with its DUMP checksum), in pieces
 * of 64 KiB like a socket's: `node dist/bench/redis/parse.js FILE.rdb [RUNS]` prints the
 * fastest and the median run of each. Make a file with `redis-cli --rdb FILE.rdb`.
 */
import { createReadStream } from 'node:fs';
import { loadavg } from 'node:os';
import { parseRdb, type RdbVisitor } from '../../src/sources/redis/rdb-parser.js';

async function time(file: string, visitor: RdbVisitor): Promise<{ ms: number; keys: number }> {
  const started = process.hrtime.bigint();
  const summary = await parseRdb(createReadStream(file, { highWaterMark: 64 * 1024 }), visitor);
  const keys = Object.values(summary.keys).reduce((a, b) => a + b, 0);
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, keys };
}

async function main(): Promise<void> {
  const [file, runsText = '5'] = process.argv.slice(2);
  if (!file) throw new Error('usage: node dist/bench/redis/parse.js FILE.rdb [RUNS]');
  const runs = Number(runsText);
  process.stdout.write(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
  const modes: [string, RdbVisitor][] = [
    ['backup (count)', {}],
    ['restore (capture)', { wantValue: () => true, entry: () => {} }],
  ];
  for (const [name, visitor] of modes) {
    const times: number[] = [];
    let keys = 0;
    for (let i = 0; i < runs; i++) {
      const r = await time(file, visitor);
      times.push(r.ms);
      keys = r.keys;
    }
    times.sort((a, b) => a - b);
    process.stdout.write(
      `${name.padEnd(18)} ${keys} keys: fastest ${times[0].toFixed(0)} ms, median ${times[Math.floor(runs / 2)].toFixed(0)} ms\n`,
    );
  }
}

main().catch((err) => {
  process.stderr.write(`bench/redis/parse: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
