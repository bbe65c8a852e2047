/**
 * A clustered friendship graph shaped like the Facebook ego network of issue 18 (962 users,
 * 18,812 friendships, mean degree 39, clustering coefficient well above 0.4): users sit on a ring,
 * communities are arcs of it (sizes log-normal, so arcs overlap and a user belongs to one to
 * three), friendships are drawn inside communities with one probability, and a few are bridges
 * between random users. Friends of a user are then mostly friends of each other, as in real
 * friendship graphs, which a degree-only model (Chung-Lu, kith seed) does not give.
 */
import { prng } from '../../src/cli/seed-data.ts';

/** Share of the friendships that join random users rather than members of a community. */
const BRIDGES = 0.05;
/** Community memberships per user, on average. */
const MEMBERSHIPS = 1.4;

/** Undirected friendships [a, b] with a < b, about users × meanDegree / 2 of them. */
export function clusteredFriendships(
  users: number,
  meanDegree: number,
  seed: number,
): [number, number][] {
  const random = prng(seed);
  const n = users;
  const target = Math.min(Math.round((n * meanDegree) / 2), (n * (n - 1)) / 2);
  // Communities about the mean degree across: kept dense enough inside (clustering ≈ 0.48 at 962
  // users and degree 39) while 1.4 memberships a user make their circles overlap.
  const median = Math.max(4, Math.min(n, meanDegree));
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const candidates = new Set<number>();
  const key = (a: number, b: number) => (a < b ? a * n + b : b * n + a);
  for (let members = 0; members < MEMBERSHIPS * n;) {
    const size = Math.round(Math.min(n, Math.max(4, median * Math.exp(0.5 * gaussian()))));
    const start = Math.floor(random() * n);
    for (let i = 0; i < size; i++)
      for (let j = i + 1; j < size; j++) candidates.add(key((start + i) % n, (start + j) % n));
    members += size;
  }
  const inside = Math.round(target * (1 - BRIDGES));
  const keep = Math.min(1, inside / Math.max(1, candidates.size));
  const chosen = new Set<number>();
  for (const k of candidates) if (random() < keep) chosen.add(k);
  for (let tries = 0; chosen.size < target && tries < target * 50; tries++) {
    const a = Math.floor(random() * n);
    const b = Math.floor(random() * n);
    if (a !== b) chosen.add(key(a, b));
  }
  return [...chosen].sort((x, y) => x - y).map((k) => [Math.floor(k / n), k % n]);
}
