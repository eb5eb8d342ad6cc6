/**
 * A loopback TCP relay in front of a real server (FerretDB, Redis) that a test
 * can switch off and on: off closes the listening socket (new connections are
 * refused) and closes every open one, as the kernel does when the server's
 * process dies; on listens again on the same port, as a restarted server
 * would. The server behind it keeps running, so other tests sharing it are not
 * disturbed.
 */
import net from 'node:net';

export interface TcpSwitch {
  /** `127.0.0.1:PORT` of the relay: put it in the client's URL instead of the server's. */
  hostPort: string;
  port: number;
  off(): Promise<void>;
  on(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpSwitch(target: { host: string; port: number }): Promise<TcpSwitch> {
  const open = new Set<net.Socket>();
  let server: net.Server | null = null;
  let port = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        for (const sock of [client, upstream]) {
          open.add(sock);
          sock.on('close', () => open.delete(sock));
          sock.on('error', () => undefined);
        }
        client.pipe(upstream);
        upstream.pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as net.AddressInfo).port;
        server = s;
        resolve();
      });
    });
  const stop = async () => {
    const s = server;
    server = null;
    for (const sock of open) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  return {
    get hostPort() {
      return `127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    off: stop,
    async on() {
      if (!server) await listen();
    },
    close: stop,
  };
}

/** `mongodb://h:1/db` or `redis://h:1` with its host:port replaced by the relay's. */
export function throughSwitch(url: string, relay: TcpSwitch): string {
  const u = new URL(url);
  u.host = relay.hostPort;
  return u.toString();
}

export function hostPortOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}
