/**
 * @module progress
 * Progress is an interface the core calls; the terminal bar and quiet/JSON modes implement it
 * outside the core.
 */

export interface Progress {
  /** A new phase begins ("backup app-db", "restore"); total bytes when known. */
  start(label: string, totalBytes?: number): void;
  /** Bytes processed since the last call. */
  advance(bytes: number): void;
  /** The phase ended. */
  done(): void;
}

export const silentProgress: Progress = {
  start() {},
  advance() {},
  done() {},
};
