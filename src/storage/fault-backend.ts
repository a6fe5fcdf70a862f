/**
 * @module storage/fault-backend
 * Wraps a backend and injects failures on plan, so tests can show what the repository
 * does when storage fails midway (a killed backup, a flaky network, a flipped bit).
 */
import { LifeboatError } from '../errors.js';
import type { Backend, FileHandle } from './backend.js';
import { ForwardingBackend } from './forwarding-backend.js';
import { objectName } from './layout.js';

export interface FaultPlan {
  /**
   * Saves that succeed before every later save fails with a retryable 'storage_failed'
   * (0: the first save fails). Failed saves store nothing, as an interrupted atomic save.
   */
  failSaveAfter?: number;
  /** Which saves count towards failSaveAfter and may fail; default every save. */
  failSaveOf?: (handle: FileHandle) => boolean;
  /** Loads of matching objects fail with a retryable 'storage_failed'. */
  failLoadOf?: (handle: FileHandle) => boolean;
  /** Loads of matching objects return their bytes with one bit flipped. */
  corrupt?: (handle: FileHandle) => boolean;
}

export interface FaultBackend extends Backend {
  /** Saves that counted towards failSaveAfter, failed or not. */
  readonly saves: number;
  /** Saves this wrapper made fail. */
  readonly failedSaves: number;
  /** Stops injecting faults: the storage "comes back". */
  heal(): void;
}

class FaultInjectingBackend extends ForwardingBackend implements FaultBackend {
  saves = 0;
  failedSaves = 0;
  private healed = false;

  constructor(
    inner: Backend,
    private readonly plan: FaultPlan,
  ) {
    super(inner);
  }

  heal(): void {
    this.healed = true;
  }

  private fault(action: string, h: FileHandle): LifeboatError {
    return new LifeboatError(
      'storage_failed',
      `[storage:fault] injected failure to ${action} ${objectName(h)} at ${this.location} (retry)`,
      { retryable: true },
    );
  }

  override async save(h: FileHandle, data: Buffer): Promise<void> {
    const limit = this.plan.failSaveAfter;
    if (limit !== undefined && (this.plan.failSaveOf?.(h) ?? true)) {
      this.saves++;
      if (!this.healed && this.saves > limit) {
        this.failedSaves++;
        throw this.fault('write', h);
      }
    }
    await this.inner.save(h, data);
  }

  override async load(h: FileHandle, offset?: number, length?: number): Promise<Buffer> {
    if (!this.healed && this.plan.failLoadOf?.(h)) throw this.fault('read', h);
    const data = await this.inner.load(h, offset, length);
    if (this.healed || data.length === 0 || !this.plan.corrupt?.(h)) return data;
    const damaged = Buffer.from(data);
    damaged[damaged.length >> 1] ^= 0x01;
    return damaged;
  }
}

export function withFaults(backend: Backend, plan: FaultPlan): FaultBackend {
  return new FaultInjectingBackend(backend, plan);
}
