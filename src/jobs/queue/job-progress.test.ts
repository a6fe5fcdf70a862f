import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestClock } from '../../clock.js';
import { JobProgressBoard } from './job-progress.js';

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
});
