/**
 * @module scratch/child-process
 * Stopping a throwaway server's process: shared by the servers that run as a child.
 */
import type { ChildProcess } from 'node:child_process';

/** Signals `child` (SIGKILL unless told) and waits for it to exit; a no-op if it is gone. */
export function killChild(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
