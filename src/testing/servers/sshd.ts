/**
 * @module testing/servers/sshd
 * A throwaway OpenSSH server for sftp tests: Debian's sshd on a free loopback port with a
 * temp config, a fresh host key and a fresh user key (authorized for the user running the
 * tests), the internal sftp subsystem, and key logins only. It never touches the machine's
 * own sshd or its keys.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { killChild } from './child-process.js';
import { freePort } from './free-port.js';

const run = promisify(execFile);
const SSHD = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'];

export interface SshdServer {
  host: string;
  port: number;
  user: string;
  /** The temp folder; repositories may go below it. */
  directory: string;
  /** Private key authorized for `user`. */
  userKeyFile: string;
  /** A known_hosts file that lists this server's key. */
  knownHostsFile: string;
  /** The host key's fingerprint, `SHA256:...`. */
  hostKeyFingerprint: string;
  /** sftp URL of a folder below `directory`. */
  url(path: string): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

function sshdPath(): string | undefined {
  return SSHD.find((p) => existsSync(p));
}

/** Why sshd cannot run here, or undefined when it can. */
export function sshdMissing(): string | undefined {
  if (!sshdPath()) return 'sshd is not installed (apt-get install openssh-server)';
  if (!existsSync('/usr/bin/ssh-keygen'))
    return 'ssh-keygen is not installed (apt-get install openssh-client)';
  return undefined;
}

function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) {
        reject(new Error(`sshd exited with ${child.exitCode}: ${log()}`));
        return;
      }
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd did not listen within 15s: ${log()}`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

export async function startSshd(): Promise<SshdServer> {
  const sshd = sshdPath();
  if (!sshd) throw new Error('sshd is not installed');
  const directory = await mkdtemp(join(tmpdir(), 'lifeboat-sshd-'));
  await chmod(directory, 0o755);
  const hostKey = join(directory, 'host_ed25519');
  const userKeyFile = join(directory, 'user_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', userKeyFile]);
  await writeFile(join(directory, 'authorized_keys'), await readFile(`${userKeyFile}.pub`));
  const port = await freePort();
  const user = userInfo().username;
  await writeFile(
    join(directory, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(directory, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(directory, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      `AllowUsers ${user}`,
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  // sshd run as root insists on its privilege-separation folder.
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const [type, blob] = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/);
  const knownHostsFile = join(directory, 'known_hosts');
  await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${type} ${blob}\n`);
  const hostKeyFingerprint = `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`;

  let log = '';
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(sshd, ['-D', '-e', '-f', join(directory, 'sshd_config')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr?.setEncoding('utf8').on('data', (d) => {
      log = (log + d).slice(-4000);
    });
    await waitForPort(port, child, () => log);
    return child;
  };
  let child: ChildProcess | undefined = await launch();
  return {
    host: '127.0.0.1',
    port,
    user,
    directory,
    userKeyFile,
    knownHostsFile,
    hostKeyFingerprint,
    url: (path) => `sftp://${user}@127.0.0.1:${port}${join(directory, path)}`,
    async stop() {
      await killChild(child, 'SIGTERM');
      child = undefined;
    },
    async start() {
      if (!child) child = await launch();
    },
    async close() {
      await killChild(child, 'SIGTERM');
      child = undefined;
      await rm(directory, { recursive: true, force: true });
    },
  };
}
