import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressTally, teeProgress } from '../progress.js';
import { JsonProgress, progressLine } from './progress-bar.js';

describe('progress renderers', () => {
  it('the bar: percentage, files and bytes of the total, unchanged bytes, rate and ETA', () => {
    let now = 0;
    const t = new ProgressTally(() => now);
    t.start('backup docs');
    now = 2000;
    t.advance(400, { files: 2, reused: true });
    t.advance(100, { files: 1 });
    t.total({ bytes: 500, files: 3, final: true });
    assert.match(
      progressLine(t, 10),
      /^\[#{10}\] 100% {2}3 \/ 3 files {2}500 B \/ 500 B {2}\(400 B unchanged, processed without reading\) {2}250 B\/s {2}ETA 0s$/,
    );
  });

  it('--json: a line at start, at most one a second, and one at the end', () => {
    let now = 0;
    const lines: Record<string, unknown>[] = [];
    const json = new JsonProgress(
      (l) => lines.push(JSON.parse(l)),
      () => now,
    );
    const tally = new ProgressTally(() => now);
    const p = teeProgress(json, tally);
    p.start('restore', 300);
    for (let i = 0; i < 10; i++) {
      now += 200;
      p.advance(30, { files: 1 });
    }
    p.done();
    p.done();
    assert.deepEqual(
      lines.map((l) => [l.done, l.bytes_done, l.files_done, l.percent]),
      [
        [false, 0, 0, 0],
        [false, 150, 5, 50],
        [false, 300, 10, 100],
        [true, 300, 10, 100],
      ],
    );
    assert.equal(tally.bytesDone, 300);
    assert.equal(lines[3].bytes_total, 300);
    assert.equal(lines[3].total_is_estimate, false);
  });
});
