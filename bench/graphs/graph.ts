/**
 * The social graphs the feed and DeathStarBench scenarios run on (`--graph seed|clustered`),
 * as plain data: users 0..n-1 and directed follows. Both are deterministic for their seed, so
 * every run of a scenario loads the same graph.
 */
import { generate } from '../../src/cli/seed-data.ts';
import { clusteredFriendships } from './clustered.ts';

export const GRAPH_NAMES = ['seed', 'clustered'] as const;
export type GraphName = (typeof GRAPH_NAMES)[number];

export interface Graph {
  name: GraphName;
  /** In words, for the results. */
  description: string;
  users: number;
  /** [follower, followee]: friendships appear in both directions. */
  follows: [number, number][];
}

export interface GraphOptions {
  users: number;
  /** Clustered: mean friends per user (the Facebook ego network: about 39). */
  meanDegree: number;
  seed: number;
}

export function parseGraphName(raw: string | undefined, fallback: GraphName): GraphName {
  const name = raw ?? fallback;
  if (!(GRAPH_NAMES as readonly string[]).includes(name))
    throw new Error(`--graph must be one of ${GRAPH_NAMES.join(', ')}, not ${name}`);
  return name as GraphName;
}

/** kith seed's power-law graph: Zipf popularity, few followees per user, a few friendships. */
function seedGraph(o: GraphOptions): Graph {
  const data = generate({
    users: o.users,
    postsPerUser: 0,
    seed: o.seed,
    prefix: '',
    days: 1,
    now: Date.UTC(2026, 0, 1),
  });
  const follows: [number, number][] = [];
  for (let i = 0; i < data.follows.length; i += 3)
    follows.push([data.follows[i]!, data.follows[i + 1]!]);
  return {
    name: 'seed',
    description: `kith seed's power-law graph (\`kith seed --users ${o.users} --seed ${o.seed}\`: Zipf popularity plus a few friendships)`,
    users: o.users,
    follows,
  };
}

function clusteredGraph(o: GraphOptions): Graph {
  const edges = clusteredFriendships(o.users, o.meanDegree, o.seed);
  return {
    name: 'clustered',
    description:
      'a clustered friendship graph shaped like the Facebook ego network (overlapping communities with dense ' +
      'friendships inside, a few bridges between them), every friendship loaded as two follows',
    users: o.users,
    follows: edges.flatMap(([a, b]): [number, number][] => [
      [a, b],
      [b, a],
    ]),
  };
}

export function buildGraph(name: GraphName, o: GraphOptions): Graph {
  return name === 'seed' ? seedGraph(o) : clusteredGraph(o);
}

export interface GraphStats {
  users: number;
  follows: number;
  /** Mean followees per user. */
  meanFollowees: number;
  medianFollowees: number;
  maxFollowers: number;
  /**
   * Mean local clustering coefficient of the undirected graph (follows in either direction): the
   * share of a user's pairs of contacts who are in contact themselves.
   */
  clustering: number;
}

export function graphStats(g: Graph): GraphStats {
  const neighbours = Array.from({ length: g.users }, () => new Set<number>());
  const followees = new Array<number>(g.users).fill(0);
  const followers = new Array<number>(g.users).fill(0);
  for (const [a, b] of g.follows) {
    followees[a]!++;
    followers[b]!++;
    neighbours[a]!.add(b);
    neighbours[b]!.add(a);
  }
  let sum = 0;
  for (const mine of neighbours) {
    const list = [...mine];
    if (list.length < 2) continue;
    let linked = 0;
    for (let i = 0; i < list.length; i++)
      for (let j = i + 1; j < list.length; j++) if (neighbours[list[i]!]!.has(list[j]!)) linked++;
    sum += linked / ((list.length * (list.length - 1)) / 2);
  }
  const sorted = [...followees].sort((x, y) => x - y);
  return {
    users: g.users,
    follows: g.follows.length,
    meanFollowees: g.follows.length / g.users,
    medianFollowees: sorted[Math.floor(sorted.length / 2)] ?? 0,
    maxFollowers: Math.max(0, ...followers),
    clustering: sum / g.users,
  };
}

/** Issue 18's Facebook ego network: 962 users, 18,812 friendships (mean degree 39.1). */
export const EGO_USERS = 962;
export const EGO_DEGREE = (2 * 18_812) / 962;

/** The command-line options of a scenario that loads a graph (parseArgs `options`). */
export const GRAPH_ARGS = {
  graph: { type: 'string' },
  users: { type: 'string' },
  degree: { type: 'string' },
  'posts-max': { type: 'string' },
  parallel: { type: 'string' },
} as const;

export interface GraphPlan extends GraphOptions {
  name: GraphName;
  /** Posts composed per user while loading: 0..postsMax, uniformly (init_social_graph: 0..20). */
  postsMax: number;
  /** Loader requests in flight (issue 18 and wrk2: 64). */
  parallel: number;
}

/** The graph a scenario loads, from its options (`--graph`, `--users`, `--degree`, `--posts-max`, `--parallel`). */
export function graphPlan(
  values: Record<string, string | boolean | undefined>,
  quick: boolean,
): GraphPlan {
  const num = (key: string, fallback: number) => {
    const raw = values[key];
    if (typeof raw !== 'string') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${key} must be a non-negative number`);
    return n;
  };
  return {
    name: parseGraphName(values.graph as string | undefined, 'clustered'),
    users: Math.max(10, Math.round(num('users', quick ? 200 : EGO_USERS))),
    meanDegree: num('degree', quick ? 20 : EGO_DEGREE),
    postsMax: Math.round(num('posts-max', quick ? 4 : 20)),
    parallel: Math.max(1, Math.round(num('parallel', 64))),
    seed: 18,
  };
}

/** One paragraph on a loaded graph for a results file. */
export function describeGraph(g: Graph, s: GraphStats): string {
  return (
    `Graph \`${g.name}\`: ${g.description}; ${fmtInt(s.users)} users, ${fmtInt(s.follows)} follows, ` +
    `${s.meanFollowees.toFixed(1)} followees per user on average (median ${s.medianFollowees}), ` +
    `at most ${fmtInt(s.maxFollowers)} followers, clustering coefficient ${s.clustering.toFixed(2)}.`
  );
}
const fmtInt = (n: number) => n.toLocaleString('en-US');
