/**
 * @module test/helpers/deploy-commands
 * What the deployment files (deploy/systemd, deploy/kubernetes) may run: the commands and
 * flags the real CLI accepts (its `--help`) and the docs document. A flag that only one of
 * the two knows is a drift the deployment files must not rely on.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from './cli.js';

export const ROOT = join(import.meta.dirname, '..', '..', '..');

/** The commands a long-running deployment may start. */
export const DAEMON_COMMANDS = ['serve', 'worker'] as const;

/** The documented shutdown grace when `server.shutdown_grace` is not set (docs/server.md). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;

/** The flags `lifeboat COMMAND --help` lists, or null when the CLI has no such command. */
export function cliFlags(command: string): Set<string> | null {
  const env = { ...process.env };
  delete env.LIFEBOAT_CONFIG;
  const r = spawnSync(process.execPath, [BIN, command, '--help'], { env, encoding: 'utf8' });
  // An unknown command with --help prints the program's help: only a command's own starts so.
  if (r.status !== 0 || !r.stdout.startsWith(`Usage: lifeboat ${command} `)) return null;
  return new Set([...r.stdout.matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1]));
}

/**
 * The docs a flag of a daemon command must appear in: docs/cli.md, docs/server.md and
 * docs/distributed.md, without distributed.md's own "Deployment" section (which explains
 * these very files, so it would prove nothing).
 */
export function documentedText(): string {
  const read = (name: string) => readFileSync(join(ROOT, 'docs', name), 'utf8');
  const distributed = read('distributed.md');
  const deployment = distributed.indexOf('\n## Deployment');
  return [
    read('cli.md'),
    read('server.md'),
    deployment >= 0 ? distributed.slice(0, deployment) : distributed,
  ].join('\n');
}

/**
 * The problems with `lifeboat ARGS` as a deployment runs it: an unknown command, or a flag
 * the CLI does not take or the docs do not mention.
 */
export function checkArgs(args: readonly string[], docs: string): { problems: string[] } {
  const [command, ...rest] = args;
  if (!(DAEMON_COMMANDS as readonly string[]).includes(command)) {
    return { problems: [`"${command}" is not one of ${DAEMON_COMMANDS.join(', ')}`] };
  }
  const flags = cliFlags(command);
  if (!flags) return { problems: [`the CLI has no \`lifeboat ${command}\``] };
  const problems: string[] = [];
  if (!docs.includes(`lifeboat ${command}`)) problems.push(`\`lifeboat ${command}\` is not in the docs`);
  for (const arg of rest) {
    if (!arg.startsWith('--')) continue;
    const flag = arg.split('=')[0];
    if (!flags.has(flag)) problems.push(`lifeboat ${command} takes no ${flag} (see its --help)`);
    if (!docs.includes(flag)) problems.push(`${flag} of lifeboat ${command} is not in the docs`);
  }
  return { problems };
}
