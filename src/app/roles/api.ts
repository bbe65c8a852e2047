import { localUrl } from '../../config.ts';
import type { Context } from '../context.ts';
import { buildApp } from '../http-app.ts';

export interface RunningRole {
  /** Stops accepting work and waits for what is in flight. */
  stop(): Promise<void>;
}

/** While draining, connections that turned idle are closed this often. */
const SWEEP_MS = 50;

/** The `api` role: HTTP server on HOST:PORT. */
export async function startApi(ctx: Context): Promise<RunningRole & { url: string }> {
  const app = await buildApp(ctx);
  let draining = false;
  // A response sent while draining tells its client not to reuse the connection, so no new
  // request follows it onto a socket that is about to close.
  app.addHook('onSend', async (_request, reply) => {
    if (draining) void reply.header('connection', 'close');
  });
  const url = await app.listen({ host: ctx.config.host, port: ctx.config.port });
  // Without PUBLIC_URL, mail links name this server on the port it really got (PORT=0 picks one).
  const address = app.server.address();
  if (ctx.config.publicUrlFromPort && address && typeof address === 'object') {
    ctx.mailLinks.publicUrl = localUrl(address.port);
  }
  return {
    url,
    /**
     * Closes the streams and stops accepting connections (Fastify's close), lets every request
     * in flight finish, and closes each connection as soon as it is idle: the keep-alive ones
     * idle at the start at once, the others after their last response (an ended event stream
     * included), which Node's own close would otherwise wait out for the keep-alive timeout.
     */
    stop: async () => {
      draining = true;
      const sweep = setInterval(() => app.server.closeIdleConnections(), SWEEP_MS);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
      }
    },
  };
}
