import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from '../context.ts';
import type { EventHandler, Subscription } from '../../infra/bus/bus.ts';
import type { RunningRole } from './api.ts';

/** `/metrics` and `/healthz` on METRICS_PORT, for processes that do not run the api role. */
async function serveProbes(ctx: Context): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      ctx.metrics.registry.metrics().then(
        (body) =>
          res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) =>
    server.listen(ctx.config.metricsPort, ctx.config.host, resolve),
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${ctx.config.host}:${port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The `worker` role: every consumer group, and the outbox relay that feeds them. */
export async function startWorker(ctx: Context): Promise<RunningRole> {
  const { config } = ctx;
  const subscriptions: Subscription[] = [];
  for (const consumer of ctx.consumers) {
    const { group } = consumer;
    // Counts outcomes for /metrics; the bus decides retries and dead letters from the throw.
    const handle: EventHandler = async (event, attempt) => {
      try {
        await consumer.handle(event, attempt);
        ctx.metrics.consumerEvents.inc({ group, outcome: 'handled' });
      } catch (err) {
        const outcome = attempt >= config.consumerMaxAttempts ? 'dead_lettered' : 'retried';
        ctx.metrics.consumerEvents.inc({ group, outcome });
        ctx.log.warn(
          { err, group, event_id: event.id, type: event.type, attempt, outcome },
          'consumer failed',
        );
        throw err;
      }
    };
    subscriptions.push(
      await ctx.bus.consume(group, consumer.types, handle, {
        maxAttempts: config.consumerMaxAttempts,
        retryDelaysMs: config.consumerRetryDelays,
        ...(consumer.concurrency !== undefined && { concurrency: consumer.concurrency }),
      }),
    );
  }
  ctx.relay.start();
  // A worker alone has no HTTP API; it still answers Prometheus and liveness probes.
  const probes = ctx.config.roles.includes('api') ? undefined : await serveProbes(ctx);
  ctx.log.info(
    { consumers: ctx.consumers.map((c) => c.group), metrics: probes?.url },
    'worker started',
  );
  return {
    stop: async () => {
      await probes?.close();
      // Relay first: in process, its publishes wait for the consumers, which must still run.
      await ctx.relay.stop();
      await Promise.all(subscriptions.map((s) => s.stop()));
    },
  };
}
