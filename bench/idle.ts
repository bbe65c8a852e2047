/**
 * A single DSB home-timeline read at a time on an idle server (issue 18: "0.3-1.0 s"; target
 * p99 under 5 ms): `count` sequential requests over one keep-alive connection, start 50 and
 * stop 60 like the issue's, for users drawn at random. Timed here with a microsecond clock,
 * since autocannon rounds latencies to whole milliseconds. The client shares the process with
 * kith, so its own overhead (a fraction of a millisecond) is included: the figure errs high.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { between, type Random } from './graphs/posts.ts';

export interface IdleReads {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers other than 200. */
  errors: number;
}

function get(origin: string, path: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${origin}${path}`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function idleReads(
  origin: string,
  maxUserIndex: number,
  count: number,
  random: Random,
): Promise<IdleReads> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let errors = 0;
  try {
    for (let i = 0; i < count; i++) {
      const user = between(random, 1, maxUserIndex);
      const t = performance.now();
      const status = await get(
        origin,
        `/wrk2-api/home-timeline/read?user_id=${user}&start=50&stop=60`,
        agent,
      );
      times.push(performance.now() - t);
      if (status !== 200) errors++;
    }
  } finally {
    agent.destroy();
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? NaN;
  return { requests: count, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: times.at(-1) ?? NaN, errors };
}
