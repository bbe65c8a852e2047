import net from 'node:net';

/**
 * A TCP proxy on loopback between kith and a real service, so a test can cut the service off
 * and bring it back without touching the machine's shared servers.
 */
export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<net.Socket>();
  /** Open client/upstream pairs, so a freeze can stop and a restore resume them. */
  readonly #pairs = new Set<[net.Socket, net.Socket]>();
  #server: net.Server | undefined;
  #cut = false;
  #frozen = false;
  port = 0;

  constructor(targetUrl: string) {
    const url = new URL(targetUrl);
    const defaults: Record<string, number> = {
      'postgres:': 5432,
      'postgresql:': 5432,
      'redis:': 6379,
      'amqp:': 5672,
    };
    this.#target = { host: url.hostname, port: Number(url.port || defaults[url.protocol]) };
  }

  /** Listens on a free loopback port; returns `url` with its host and port replaced by the proxy's. */
  async start(url: string): Promise<string> {
    this.#server = net.createServer((client) => {
      if (this.#cut) return void client.destroy();
      const upstream = net.connect(this.#target);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.#pairs.add(pair);
      client.on('close', () => this.#pairs.delete(pair));
      if (this.#frozen) {
        client.pause(); // held: accepted, but nothing passes until `restore`
      } else {
        client.pipe(upstream).pipe(client);
      }
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(this.port);
    return proxied.toString();
  }

  /** Drops every open connection and refuses new ones until `restore`. */
  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  /**
   * A silent network: no byte passes either way on open connections, and new ones are accepted
   * but get no answer; nothing is closed. `restore` lets everything still open flow again.
   */
  freeze(): void {
    this.#frozen = true;
    for (const [client, upstream] of this.#pairs) {
      client.unpipe();
      upstream.unpipe();
      client.pause();
      upstream.pause();
    }
  }

  restore(): void {
    this.#cut = false;
    if (!this.#frozen) return;
    this.#frozen = false;
    for (const [client, upstream] of this.#pairs) {
      client.pipe(upstream).pipe(client);
      client.resume();
      upstream.resume();
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) =>
      this.#server ? this.#server.close(() => resolve()) : resolve(),
    );
  }
}
