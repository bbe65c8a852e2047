import net from 'node:net';

/**
 * A TCP proxy on loopback between kith and a real service, so a test can cut the service off
 * (connections reset) or freeze it (connections stay open, no bytes move) and bring it back
 * without touching the machine's shared servers.
 */
export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  #cut = false;
  #frozen = false;
  /** Writes held while frozen, in arrival order; replayed by `restore`. */
  #held: (() => void)[] = [];
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
      const forward = (from: net.Socket, to: net.Socket) => {
        const pass = (write: () => void) => (this.#frozen ? this.#held.push(write) : write());
        from.on('data', (chunk) => pass(() => !to.destroyed && to.write(chunk)));
        from.on('end', () => pass(() => !to.destroyed && to.end()));
      };
      forward(client, upstream);
      forward(upstream, client);
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
    this.#frozen = false;
    this.#held = [];
    for (const s of this.#sockets) s.destroy();
  }

  /**
   * Silences the service until `restore`: connections, old and new, stay open but no byte moves
   * either way (a hung server, or packets dropped on the way); what was sent is delivered then.
   */
  freeze(): void {
    this.#frozen = true;
  }

  restore(): void {
    this.#cut = false;
    this.#frozen = false;
    const held = this.#held;
    this.#held = [];
    for (const write of held) write();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) =>
      this.#server ? this.#server.close(() => resolve()) : resolve(),
    );
  }
}
