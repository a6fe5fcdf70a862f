/**
 * @module sources/redis/redis-replica-load
 * A whole restore into an empty running server at the speed of a restart: lifeboat plays the
 * master of one full resynchronisation. It listens on the address the target sees it from,
 * sends the target `REPLICAOF <that address> <port>`, answers the replica's handshake (PING,
 * AUTH, REPLCONF: +OK; PSYNC: +FULLRESYNC) with the snapshot's RDB file as `$<size>` bytes
 * streamed from the repository, waits until the target has loaded it (`master_link_status:up`),
 * then `REPLICAOF NO ONE`. The server loads the file as at startup, with no command per key.
 * Only one connection is accepted, from the target's address, and the port closes after it.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, LifeboatError } from '../../errors.js';
import { isRespError, parseKeyspace, RedisConnection, type RedisEndpoint } from './redis-connection.js';

export interface ReplicaLoadResult {
  /** Keys per database as the target reports them once loaded. */
  keys: Record<string, number>;
}

/** Why the replica load does not apply: the caller restores key by key instead. */
export class ReplicaLoadUnavailable extends Error {}

const CONNECT_WAIT_MS = 5_000;
const POLL_MS = 20;

/** An IPv4 address as an IPv6 socket may show it (::ffff:127.0.0.1), plain. */
function plainAddress(address: string | undefined): string | undefined {
  return address?.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
}

function infoField(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(\\S*)`, 'm').exec(info)?.[1];
}

async function info(conn: RedisConnection, section: string): Promise<string> {
  const r = await conn.call(['INFO', section]);
  if (isRespError(r)) throw new ReplicaLoadUnavailable(`INFO ${section} refused: ${r.message}`);
  return Buffer.isBuffer(r) ? r.toString('latin1') : String(r);
}

/**
 * Loads the RDB file into the target (whose keyspace and functions the caller found empty).
 * Throws ReplicaLoadUnavailable, having changed nothing on the target, when the target
 * cannot do it (a replica or cluster node, REPLICAOF refused, no connection back to us).
 */
export async function loadAsReplica(
  rdb: AsyncIterable<Buffer>,
  size: number,
  conn: RedisConnection,
  ep: RedisEndpoint,
): Promise<ReplicaLoadResult> {
  const replication = await info(conn, 'replication');
  if (infoField(replication, 'role') !== 'master') {
    if (!leftOverByUs(replication, conn)) throw new ReplicaLoadUnavailable('the target is a replica');
    // A replica load cut short (lifeboat killed): the target still follows a master that is
    // gone, read-only. It was empty, and a failed load leaves it so: let it lead again.
    const r = await conn.call(['REPLICAOF', 'NO', 'ONE']);
    if (isRespError(r)) throw new ReplicaLoadUnavailable(`REPLICAOF NO ONE refused: ${r.message}`);
  }
  if (infoField(await info(conn, 'cluster'), 'cluster_enabled') === '1') {
    throw new ReplicaLoadUnavailable('the target is a cluster node');
  }
  const host = conn.localAddress;
  const targetAddress = conn.remoteAddress;
  if (!host || !targetAddress) throw new ReplicaLoadUnavailable('no local address');

  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => {
    server.on('connection', (socket) => {
      if (plainAddress(socket.remoteAddress) !== plainAddress(targetAddress)) {
        socket.destroy();
        return;
      }
      server.close();
      resolve(socket);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let replica: RedisConnection | undefined;
  let attached = false;
  let failure: unknown;
  // An empty target can load the file as it arrives, not after a copy to disk.
  const diskLoad = await setConfig(conn, 'repl-diskless-load', 'on-empty-db');
  try {
    const r = await conn.call(['REPLICAOF', host, String(port)]);
    if (isRespError(r)) throw new ReplicaLoadUnavailable(`REPLICAOF refused: ${r.message}`);
    attached = true;
    const gaveUp = new AbortController();
    const socket = await Promise.race([
      accepted,
      sleep(CONNECT_WAIT_MS, undefined, { signal: gaveUp.signal }).catch(() => undefined),
    ]);
    gaveUp.abort();
    if (!socket) {
      void accepted.then((late) => late.destroy());
      throw new ReplicaLoadUnavailable(`the target did not connect to ${host}:${port}`);
    }
    replica = RedisConnection.accept(socket, { ...ep, display: `${ep.display} (as a replica)` });
    await serveFullSync(replica, rdb, size);
    await waitLoaded(conn, replica, ep);
    const keys = parseKeyspace(await info(conn, 'keyspace'));
    return { keys };
  } catch (err) {
    failure = err;
    if (err instanceof ReplicaLoadUnavailable || err instanceof LifeboatError) throw err;
    throw new LifeboatError(
      'source_failed',
      `[source:redis] loading the RDB file into ${ep.display} as a replica failed: ${describe(err)} (check the server's log; once it is back, restore again)`,
      { cause: err, retryable: true },
    );
  } finally {
    server.close();
    replica?.destroy();
    if (attached) await leaveReplication(conn, ep, failure);
    if (diskLoad !== undefined) await setConfig(conn, 'repl-diskless-load', diskLoad);
  }
}

/**
 * True when the target replicates from this machine's address with its link down: what a
 * replica load leaves when lifeboat is killed during it (its port closed with it).
 */
function leftOverByUs(replication: string, conn: RedisConnection): boolean {
  const master = plainAddress(infoField(replication, 'master_host'));
  return (
    infoField(replication, 'master_link_status') !== 'up' &&
    master !== undefined &&
    master === plainAddress(conn.localAddress)
  );
}

/** Sets a config parameter if the user may; returns its former value when it changed it. */
async function setConfig(conn: RedisConnection, name: string, value: string): Promise<string | undefined> {
  const got = await conn.call(['CONFIG', 'GET', name]);
  if (!Array.isArray(got) || got.length < 2) return undefined;
  const was = String(got[1]);
  if (was === value) return undefined;
  const set = await conn.call(['CONFIG', 'SET', name, value]);
  return isRespError(set) ? undefined : was;
}

/** REPLICAOF NO ONE; a failure is an error unless an earlier one is already being thrown. */
async function leaveReplication(conn: RedisConnection, ep: RedisEndpoint, failure: unknown): Promise<void> {
  const r = await conn.call(['REPLICAOF', 'NO', 'ONE']).catch((e: unknown) => e);
  if (r === 'OK' || failure !== undefined) return;
  throw new LifeboatError(
    'source_failed',
    `[source:redis] ${ep.display} did not leave replication (REPLICAOF NO ONE: ${describe(r)}); run it on the server`,
  );
}

/** Answers the handshake until PSYNC or SYNC, then sends the RDB file. */
async function serveFullSync(replica: RedisConnection, rdb: AsyncIterable<Buffer>, size: number) {
  for (;;) {
    const command = await replica.readReply();
    if (!Array.isArray(command) || command.length === 0) throw new Error('the replica sent no command');
    const name = String(command[0]).toUpperCase();
    if (name === 'PING') await replica.write([Buffer.from('+PONG\r\n')]);
    else if (name === 'PSYNC' || name === 'SYNC') {
      const head =
        name === 'PSYNC'
          ? `+FULLRESYNC ${randomBytes(20).toString('hex')} 0\r\n$${size}\r\n`
          : `$${size}\r\n`;
      await replica.write([Buffer.from(head, 'latin1')]);
      for await (const chunk of rdb) await replica.write([chunk]);
      return;
    } else await replica.write([Buffer.from('+OK\r\n')]);
  }
}

/** Polls the target until it reports the link up (the file loaded); a failed load drops the link. */
async function waitLoaded(conn: RedisConnection, replica: RedisConnection, ep: RedisEndpoint) {
  for (;;) {
    const replication = await info(conn, 'replication');
    if (infoField(replication, 'master_link_status') === 'up') return;
    if (replica.isClosed) {
      throw new Error(`${ep.display} closed the replication link before it had loaded the file`);
    }
    await sleep(POLL_MS);
  }
}
