import type { Context } from '../context.ts';
import { buildApp } from '../http/app.ts';

export interface RunningRole {
  /** Stops accepting work and waits for what is in flight. */
  stop(): Promise<void>;
}

/** The `api` role: HTTP server on HOST:PORT. */
export async function startApi(ctx: Context): Promise<RunningRole & { url: string }> {
  const app = await buildApp(ctx);
  const url = await app.listen({ host: ctx.config.host, port: ctx.config.port });
  return { url, stop: () => app.close() };
}
