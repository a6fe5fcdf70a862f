/**
 * @module storage/azure/idle-agent
 * The Azure SDK bounds a request only as a whole (its per-try timeout), so an endpoint that
 * accepts the connection and never answers holds each try for that long. This agent gives
 * its sockets the connect and idle limits the S3 handler has: a socket that does not connect
 * in time, or on which no byte moves either way for `idleMs`, is destroyed with ETIMEDOUT,
 * which fails the request as retryable. A transfer that keeps moving is never cut off.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import type { TransportTimeouts } from '../storage-options.js';

function timeoutError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT' });
}

/** Applies the limits to a new socket. */
function guard(socket: Socket, secure: boolean, t: TransportTimeouts): void {
  if (t.connectMs) {
    const ms = t.connectMs;
    const timer = setTimeout(() => socket.destroy(timeoutError(`no connection within ${ms / 1000}s`)), ms);
    socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  }
  if (t.idleMs) {
    const ms = t.idleMs;
    socket.setTimeout(ms);
    socket.on('timeout', () => socket.destroy(timeoutError(`no answer for ${ms / 1000}s`)));
  }
}

/** An http or https agent with the connect and idle limits; undefined when there are none. */
export function idleAgent(secure: boolean, t: TransportTimeouts): HttpAgent | undefined {
  if (!t.connectMs && !t.idleMs) return undefined;
  // `timeout` keeps Node from resetting the socket's idle limit when it goes back to the pool.
  const options = { keepAlive: true, maxSockets: 32, timeout: t.idleMs };
  type Create = (this: HttpAgent, options: object, callback?: unknown) => Socket;
  const agent = secure ? new HttpsAgent(options) : new HttpAgent(options);
  const base = (agent as unknown as { createConnection: Create }).createConnection;
  (agent as unknown as { createConnection: Create }).createConnection = function (opts, callback) {
    const socket = base.call(this, opts, callback);
    guard(socket, secure, t);
    return socket;
  };
  return agent;
}

/** Whether a connection string's blob endpoint is https (Azurite's development storage is not). */
export function connectionStringIsHttps(connectionString: string): boolean {
  const field = (name: string) =>
    new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*([^;]*)`, 'i').exec(connectionString)?.[1]?.trim();
  const blob = field('BlobEndpoint');
  if (blob) return !/^http:/i.test(blob);
  if (/^true$/i.test(field('UseDevelopmentStorage') ?? '')) return false;
  return !/^http$/i.test(field('DefaultEndpointsProtocol') ?? 'https');
}
