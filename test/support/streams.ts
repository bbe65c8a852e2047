/**
 * Event streams over WebSocket (`/api/v1/stream`), in-process or on another node: `openStream`
 * connects and returns an `Inbox` that collects the events and waits for them.
 */
import WebSocket from 'ws';

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;
export type StreamEvent = { seq: number; type: string; data: Record<string, unknown> };

/** Every socket opened in this test file (each file runs in its own process). */
const sockets = new Set<WebSocket>();

/** Ends every socket `openStream` opened: for the file's `after`. */
export function terminateStreams(): void {
  for (const socket of sockets) socket.terminate();
}

/** The events a socket received, in order, and ways to wait for more. */
export class Inbox<E = StreamEvent> {
  readonly socket: WebSocket;
  readonly events: E[] = [];
  /** Settles when the socket closes (with its close code). */
  readonly closed: Promise<number>;
  readonly #wakers = new Set<() => void>();

  constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (raw: Buffer) => {
      this.events.push(JSON.parse(raw.toString()) as E);
      for (const wake of [...this.#wakers]) wake();
    });
    this.closed = new Promise((resolve) => socket.once('close', resolve));
  }

  /** Resolves with `probe(events)` once it is truthy; fails after `ms`. */
  until<R>(probe: (events: E[]) => R, what: string, ms = 15_000): Promise<Truthy<R>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = probe(this.events);
        if (!value) return;
        clearTimeout(timer);
        this.#wakers.delete(check);
        resolve(value as Truthy<R>);
      };
      const timer = setTimeout(() => {
        this.#wakers.delete(check);
        reject(new Error(`timed out after ${ms} ms: ${what}; got ${JSON.stringify(this.events)}`));
      }, ms);
      this.#wakers.add(check);
      check();
    });
  }

  /** Resolves with the events once at least `n` arrived; fails after `ms`. */
  count(n: number, ms = 15_000): Promise<E[]> {
    return this.until((events) => events.length >= n && events, `${n} events`, ms);
  }

  /** Closes the socket; resolves once it closed. */
  close(): Promise<number> {
    this.socket.close();
    return this.closed;
  }
}

/**
 * Opens a stream socket at `url` with `headers` (e.g. an account's `auth`) and WebSocket
 * subprotocols, once connected.
 */
export async function openStream<E = StreamEvent>(
  url: string | URL,
  headers: Record<string, string>,
  protocols: string[] = [],
): Promise<Inbox<E>> {
  const socket = new WebSocket(url, protocols, { headers });
  sockets.add(socket);
  const inbox = new Inbox<E>(socket);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return inbox;
}

/** An SSE stream (`/api/v1/stream/sse`) read with fetch: its text so far, and its end. */
export class SseStream {
  text = '';
  /** Settles with the whole text once the server ends the stream. */
  readonly ended: Promise<string>;
  readonly #controller: AbortController;
  readonly #wakers = new Set<() => void>();

  constructor(body: ReadableStream<Uint8Array>, controller: AbortController) {
    this.#controller = controller;
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    this.ended = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          this.text += value;
          for (const wake of [...this.#wakers]) wake();
        }
      } catch {
        // aborted by the test
      }
      return this.text;
    })();
  }

  /** Waits until the text contains `needle` (fails after `ms`). */
  until(needle: string, ms = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!this.text.includes(needle)) return;
        clearTimeout(timer);
        this.#wakers.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#wakers.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${needle}; got ${this.text}`));
      }, ms);
      this.#wakers.add(check);
      check();
    });
  }

  abort(): void {
    this.#controller.abort();
  }
}

/** Opens an SSE stream at `url` with `headers`, once the server answered 200. */
export async function openSse(
  url: string | URL,
  headers: Record<string, string>,
): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  if (res.status !== 200 || !res.body) throw new Error(`SSE answered ${res.status}`);
  return new SseStream(res.body, controller);
}
