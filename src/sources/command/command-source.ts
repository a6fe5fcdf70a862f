/**
 * @module sources/command/command-source
 * The command engine: whatever a command prints (`kubectl get secret -o yaml`, `etcdctl
 * snapshot save /dev/stdout`, a vendor's dump tool) is stored as one artifact, streamed
 * through the chunker, kept only when the command exits 0. Restore writes the artifact to a
 * file (`--to`), or feeds it to `restore_command` on stdin. The `env` values reach the child
 * processes only; they are blanked out of messages and never recorded in the snapshot.
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDuration } from '../../config/duration.js';
import { errnoCode, LifeboatError, writeFailed } from '../../errors.js';
import { makeDir } from '../../make-dir.js';
import {
  artifactTarget,
  countBytes,
  pickArtifact,
  readArtifact,
  saveArtifactTree,
  writeArtifactToFile,
} from '../artifact.js';
import { runDumpTool, runRestoreTool, type ToolCommand } from '../dump-runner.js';
import { inspectFolderTarget } from '../folder-target.js';
import type {
  BackupContext,
  BackupResult,
  RestoreContext,
  RestoreOptions,
  RestoreResult,
  Source,
  TargetContents,
  TreeNode,
} from '../source.js';
import type { CommandSourceConfig } from './command-schema.js';

export function createCommandSource(name: string, config: CommandSourceConfig): Source {
  return new CommandSource(name, config);
}

class CommandSource implements Source {
  readonly type = 'command';
  readonly kind = 'logical';

  constructor(
    readonly name: string,
    private readonly config: CommandSourceConfig,
  ) {}

  /** A file target's size; a restore_command's target is its own business, not inspected. */
  async inspectTarget(to: string | undefined): Promise<TargetContents> {
    if (to) return inspectFolderTarget(resolve(to));
    const command = this.config.restore_command;
    return command
      ? {
          target: `restore_command \`${shown(command)}\``,
          exists: true,
          summary: 'not inspected (the command decides what it replaces)',
        }
      : { target: 'none', exists: false, summary: 'no restore_command (pass --to FILE)' };
  }

  private get artifact(): string {
    return this.config.artifact ?? `${this.name}.out`;
  }

  async backup(ctx: BackupContext): Promise<BackupResult> {
    const { store, progress } = ctx;
    const run = this.tool(this.config.command, ctx.signal);
    try {
      const { root, nodes } = await runDumpTool(run.cmd, (stdout) =>
        saveArtifactTree(store, [
          { name: this.artifact, stream: countBytes(stdout, (n) => progress.advance(n)) },
        ]),
      );
      const [node] = nodes;
      return {
        root,
        stats: { bytes: node.size ?? 0, sha256: node.sha256 },
        meta: {
          artifact: this.artifact,
          command: shown(this.config.command),
          // What a restore on a machine without the config needs to know; never the values.
          ...(this.config.restore_command ? { restoreCommand: shown(this.config.restore_command) } : {}),
          ...(this.config.env ? { envNames: Object.keys(this.config.env).sort() } : {}),
        },
      };
    } finally {
      run.stop();
    }
  }

  async restore(ctx: RestoreContext, options: RestoreOptions): Promise<RestoreResult> {
    refuseParts(options);
    const node = await pickArtifact(ctx.store, ctx.root, ctx.meta, 'command');
    const size = node.size ?? 0;
    const stats = { bytes: size, sha256: node.sha256 };
    if (options.to !== undefined) return this.restoreToFile(ctx, options, node, options.to);

    const restoreCommand = this.config.restore_command;
    if (!restoreCommand) {
      const recorded = typeof ctx.meta.restoreCommand === 'string' ? ctx.meta.restoreCommand : undefined;
      throw new LifeboatError(
        'usage',
        recorded
          ? `[source:command] source "${this.name}": the snapshot was taken with restore_command \`${recorded}\`, which runs only from the config file (add the source to lifeboat.yaml, or pass --to FILE to write the artifact)`
          : `[source:command] source "${this.name}" has no restore_command (pass --to FILE to write the artifact, or use lifeboat dump)`,
      );
    }
    const target = `restore_command \`${shown(restoreCommand)}\``;
    const items = [`${node.name} (${size} bytes) on the standard input of ${shown(restoreCommand)}`];
    if (options.dryRun) return { target, items, stats };

    const run = this.tool(restoreCommand);
    try {
      ctx.progress.start(`restore ${this.name}`, size);
      await runRestoreTool(
        run.cmd,
        countBytes(readArtifact(ctx.store, node), (n) => ctx.progress.advance(n)),
      );
      ctx.progress.done();
    } finally {
      run.stop();
    }
    return { target, items, stats };
  }

  private async restoreToFile(
    ctx: RestoreContext,
    options: RestoreOptions,
    node: TreeNode,
    to: string,
  ): Promise<RestoreResult> {
    const target = await artifactTarget(to, node.name);
    const existing = await stat(target).catch((err) => {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw writeFailed('source:command', target, err);
    });
    if (existing && existing.size > 0 && !options.overwrite && !options.dryRun) {
      throw new LifeboatError(
        'target_not_empty',
        `[source:command] restore target ${target} exists and is not empty (pass --overwrite to replace it, or --to another path)`,
      );
    }
    const stats = { bytes: node.size ?? 0, sha256: node.sha256 };
    const items = [`${node.name} (${node.size ?? 0} bytes)`];
    if (options.dryRun) return { target, items, stats };
    await makeDir(dirname(target)).catch((err) => Promise.reject(writeFailed('source:command', target, err)));
    ctx.progress.start(`restore ${this.name}`, node.size);
    await writeArtifactToFile(ctx.store, node, target, (n) => ctx.progress.advance(n)).catch((err) =>
      Promise.reject(writeFailed('source:command', target, err)),
    );
    ctx.progress.done();
    return { target, items, stats };
  }

  /** The runner's command for `line`, with the env, the secrets and the timeout. */
  private tool(line: string | string[], signal?: AbortSignal): { cmd: ToolCommand; stop(): void } {
    const [command, ...args] = typeof line === 'string' ? ['/bin/sh', '-c', line] : line;
    const label = `source "${this.name}": ${typeof line === 'string' ? `command \`${capped(line)}\`` : command}`;
    const timeout = this.config.timeout;
    const limit = new AbortController();
    const timer = timeout
      ? setTimeout(
          () =>
            limit.abort(
              new LifeboatError(
                'source_failed',
                `[source:command] ${label} did not finish within ${timeout} and was killed (raise the source's timeout)`,
              ),
            ),
          parseDuration(timeout),
        )
      : undefined;
    const env = this.config.env ?? {};
    return {
      cmd: {
        engine: 'command',
        command,
        args,
        env,
        label,
        group: true,
        secrets: Object.values(env).filter((v) => v.length > 0),
        signal: signal ? AbortSignal.any([signal, limit.signal]) : limit.signal,
      },
      stop: () => clearTimeout(timer),
    };
  }
}

/** The command as the snapshot and messages show it. */
function shown(line: string | string[]): string {
  return typeof line === 'string' ? line : line.join(' ');
}

function capped(line: string): string {
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}

function refuseParts(options: RestoreOptions): void {
  const parts =
    (options.include ?? []).length +
    (options.tables ?? []).length +
    (options.schemas ?? []).length +
    (options.collections ?? []).length;
  if (parts > 0 || options.pattern !== undefined || options.db !== undefined || options.dataOnly) {
    throw new LifeboatError(
      'usage',
      '[source:command] a command source restores its one artifact whole (no --include, --table, --pattern)',
    );
  }
}
