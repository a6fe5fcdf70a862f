/**
 * @module repo/collect
 * Garbage collection by bytes let go. Buffers that cross between threads are external memory:
 * V8 collects them only after some 64 MiB of new external memory per thread, so a backup held
 * up to that much dead buffers in each thread. A full collection of these small heaps takes
 * milliseconds.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/** A function to call with the size of each large buffer dropped; collects every `every` bytes. */
export function collector(every: number): (bytes: number) => void {
  let released = 0;
  return (bytes) => {
    released += bytes;
    if (released < every) return;
    released = 0;
    if (!gc) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
    gc();
  };
}
