import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestClock } from '../../clock.js';
import { JobProgressBoard, STORE_EVERY_MS } from './job-progress.js';

describe('JobProgressBoard', () => {
  it('keeps files and bytes of the total, percent and ETA per running job', () => {
    const clock = new TestClock('2026-01-01T00:00:00Z');
    const board = new JobProgressBoard(clock);
    const p = board.track('j1');
    assert.equal(board.get('j1'), undefined);
    p.start('backup docs');
    // A scan still under way: the total is an estimate, and the percentage stays below 100.
    p.total?.({ bytes: 1000, files: 8, final: false });
    p.advance(400, { files: 3 });
    clock.tick(4000);
    assert.deepEqual(board.get('j1'), {
      phase: 'backup docs',
      files_done: 3,
      files_total: 8,
      bytes_done: 400,
      bytes_processed_unchanged: 0,
      bytes_total: 1000,
      total_is_estimate: true,
      percent: 40,
      // 400 bytes in 4 s: the 600 left take 6 s more.
      eta_seconds: 6,
      elapsed_seconds: 4,
      phases_done: 0,
      updated_at: '2026-01-01T00:00:00.000Z',
    });
    p.total?.({ bytes: 1200, files: 10, final: true });
    p.advance(800, { files: 7, reused: true });
    clock.tick(1000);
    const full = board.get('j1');
    assert.equal(full?.percent, 100);
    assert.equal(full?.eta_seconds, 0);
    assert.equal(full?.files_done, 10);
    assert.equal(full?.files_total, 10);
    assert.equal(full?.bytes_processed_unchanged, 800);
    assert.equal(full?.total_is_estimate, false);
    assert.equal(full?.updated_at, '2026-01-01T00:00:04.000Z');

    // Another job's progress is its own.
    board.track('j2').start('restore', 50);
    assert.equal(board.get('j2')?.percent, 0);
    assert.equal(board.get('j2')?.eta_seconds, null);
    assert.equal(board.get('j1')?.bytes_done, 1200);
  });

  it('an ended phase is complete; the next phase starts from zero and counts separately', () => {
    const clock = new TestClock('2026-01-01T00:00:00Z');
    const board = new JobProgressBoard(clock);
    const p = board.track('j1');
    p.start('backup app-db/main', 300);
    p.advance(120);
    clock.tick(2000);
    p.done();
    p.done();
    const ended = board.get('j1');
    assert.equal(ended?.phases_done, 1);
    assert.equal(ended?.percent, 100);
    assert.equal(ended?.eta_seconds, 0);
    p.start('backup app-db/logs');
    p.advance(10);
    const next = board.get('j1');
    assert.equal(next?.phase, 'backup app-db/logs');
    assert.equal(next?.bytes_done, 10);
    assert.equal(next?.bytes_total, null);
    assert.equal(next?.percent, null);
    assert.equal(next?.eta_seconds, null);
    assert.equal(next?.phases_done, 1);
    board.clear('j1');
    assert.equal(board.get('j1'), undefined);
  });

  it('stores the progress at most every STORE_EVERY_MS, the latest figures last, and clears it at the end', async () => {
    const clock = new TestClock('2026-01-01T00:00:00Z');
    const writes: { at: number; job: string; bytes: number | null }[] = [];
    const began = Date.now();
    const board = new JobProgressBoard(clock, async (job, progress) => {
      writes.push({ at: Date.now() - began, job, bytes: progress?.bytes_done ?? null });
    });
    const p = board.track('j1');
    p.start('backup docs', 1000);
    // Updates for 3 s, every 50 ms: a write at once, one about 2 s later, and the last figures.
    for (let i = 1; i <= 60; i++) {
      p.advance(10);
      await sleep(50);
    }
    p.done();
    await sleep(STORE_EVERY_MS + 300);
    assert.ok(writes.length >= 2 && writes.length <= 3, JSON.stringify(writes));
    for (let i = 1; i < writes.length; i++) {
      assert.ok(writes[i].at - writes[i - 1].at >= STORE_EVERY_MS - 50, JSON.stringify(writes));
    }
    assert.equal(writes.at(-1)?.bytes, 600, 'the last figures are stored');
    await board.clear('j1');
    assert.deepEqual(writes.at(-1), { at: writes.at(-1)?.at, job: 'j1', bytes: null });
    const count = writes.length;
    await sleep(STORE_EVERY_MS + 200);
    assert.equal(writes.length, count, 'nothing written after the clear');
  });
});
