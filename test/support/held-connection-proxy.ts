import net from 'node:net';

export interface HeldConnectionProxy {
  /** `url` with its host and port replaced by the proxy's. */
  url: string;
  /** Lets the first connection's bytes through (they were held since it was accepted). */
  release(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on loopback in front of the server of `url` that holds the FIRST connection made
 * through it (nothing it sends is forwarded until `release()`), and forwards every later one at
 * once: one client of a pool stuck while the others work, as a slow connection start on a loaded
 * server makes it. The server stays real; only the timing changes.
 */
export async function heldConnectionProxy(url: string): Promise<HeldConnectionProxy> {
  const target = new URL(url);
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let released = false;
  const held: (() => void)[] = [];
  const server = net.createServer((client) => {
    const first = accepted++ === 0;
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    const forward = () => {
      client.pipe(upstream);
      upstream.pipe(client);
    };
    if (first && !released) {
      client.pause();
      held.push(forward);
    } else forward();
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(address.port);
  return {
    url: proxied.toString(),
    release() {
      released = true;
      for (const forward of held.splice(0)) forward();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
