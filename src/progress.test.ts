import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonProgress, progressLine } from './cli/progress-bar.js';
import { ProgressTally, teeProgress } from './progress.js';

describe('progress: the tally and its renderers', () => {
  it('counts files, bytes and unchanged bytes; estimates percentage and ETA', () => {
    let now = 0;
    const t = new ProgressTally(() => now);
    t.start('backup docs');
    // An estimate (the previous snapshot's size) stays below 100% until a final total.
    t.total({ bytes: 1000, final: false });
    now = 2000;
    t.advance(400, { files: 2, reused: true });
    t.advance(100, { files: 1 });
    assert.equal(t.bytesDone, 500);
    assert.equal(t.bytesReused, 400);
    assert.equal(t.filesDone, 3);
    assert.equal(t.percent(), 50);
    assert.equal(t.etaSeconds(), 2);
    // A partial scan below the estimate says less than it: ignored; a final one replaces it.
    t.total({ bytes: 600, files: 4, final: false });
    assert.equal(t.totalBytes, 1000);
    t.total({ bytes: 500, files: 3, final: true });
    assert.equal(t.percent(), 100);
    assert.match(
      progressLine(t, 10),
      /^\[#{10}\] 100% {2}3 \/ 3 files {2}500 B \/ 500 B {2}\(400 B unchanged, processed without reading\) {2}250 B\/s {2}ETA 0s$/,
    );
    t.advance(600);
    t.start('backup big', 10);
    t.advance(20);
    assert.equal(t.percent(), 100, 'an exact total caps at 100%');
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
