import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProgressTally } from './progress.js';

describe('progress: the tally', () => {
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
    t.advance(600);
    t.start('backup big', 10);
    t.advance(20);
    assert.equal(t.percent(), 100, 'an exact total caps at 100%');
  });
});
