/**
 * @module scratch/free-port
 * A TCP port nobody listens on right now, for throwaway servers (drills, tests): bind port 0
 * on the loopback address, read the port the kernel chose, close. (Another process may take it
 * before the server binds it; the servers are started right away, so this is rare.)
 */
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}
