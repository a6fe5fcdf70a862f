/**
 * @module testing/alert-receivers
 * Local receivers for alert channels under test: an HTTP server (webhooks, Slack, PagerDuty)
 * and an SMTP server (smtp-server, in-process) that record what arrives and can be told to
 * refuse, and a URL where nothing listens.
 */
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface AlertReceiver {
  /** Where a channel delivers: `http://127.0.0.1:PORT/path` or `smtp://user:password@127.0.0.1:PORT`. */
  readonly url: string;
  /** What arrived, oldest first: request bodies, or whole messages (headers unfolded, soft breaks joined). */
  readonly received: string[];
  /** Refuses deliveries with this HTTP status or SMTP reply code, until called with undefined. */
  refuse(code: number | undefined): void;
  close(): Promise<void>;
}

/** An HTTP receiver at `path` (a Slack webhook's path is its secret: tests check it never leaks). */
export async function startHttpReceiver(path = '/hooks/T000/B000/s3cr3t-path'): Promise<AlertReceiver> {
  const received: string[] = [];
  let refusing: number | undefined;
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      if (refusing !== undefined) {
        res.writeHead(refusing).end('refused');
        return;
      }
      received.push(body);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"success"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    refuse: (code) => {
      refusing = code;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An SMTP receiver that takes any login (the password is a secret tests check never leaks). */
export async function startSmtpReceiver(user = 'alerts', password = 'smtp-s3cr3t'): Promise<AlertReceiver> {
  const received: string[] = [];
  let refusing: number | undefined;
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username });
    },
    onData(stream, _session, callback) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        raw += d;
      });
      stream.on('end', () => {
        if (refusing !== undefined) {
          callback(Object.assign(new Error('refused'), { responseCode: refusing }));
          return;
        }
        received.push(raw.replace(/\r?\n[ \t]+/g, ' ').replace(/=\r?\n/g, ''));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://${user}:${password}@127.0.0.1:${port}`,
    received,
    refuse: (code) => {
      refusing = code;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A local port where nothing listens (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
