/**
 * @module testing/servers/silent-server
 * A TCP server on a free loopback port that accepts every connection and never sends a
 * byte: the endpoint that hangs a client without a deadline (a stuck load balancer, a
 * firewall that swallows packets after the handshake). It reads and discards what it gets,
 * unless `stopReading` is set (then the client's writes stall once the buffers are full).
 */
import { createServer, type Socket } from 'node:net';

export interface SilentServer {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startSilentServer(options: { stopReading?: boolean } = {}): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    if (options.stopReading) socket.pause();
    else socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('silent server: no port');
  return {
    port: address.port,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
