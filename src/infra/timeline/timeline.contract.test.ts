import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redisUrl, testPrefix, testRedis } from '../../../test/support/services.ts';
import { newId } from '../../ids.ts';
import { MemoryTimelineStore } from './memory-timeline.ts';
import { RedisTimelineStore } from './redis-timeline.ts';
import { scoreOfId, type TimelineEntry, type TimelineStore } from './timeline.ts';

const implementations: [string, () => Promise<TimelineStore>][] = [
  ['memory', async () => new MemoryTimelineStore()],
];
if (redisUrl())
  implementations.push([
    'redis',
    async () => new RedisTimelineStore(await testRedis(), `${testPrefix}:`),
  ]);

let keys = 0;
const freshKey = () => `tl:${++keys}`;
const entries = (n: number): TimelineEntry[] =>
  Array.from({ length: n }, () => {
    const id = newId();
    return { id, score: scoreOfId(id) };
  });
const ids = (list: TimelineEntry[] | undefined) =>
  (list ?? assert.fail('no timeline')).map((e) => e.id);
const newestFirst = (list: TimelineEntry[]) =>
  [...list].sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1));

for (const [name, make] of implementations) {
  describe(`TimelineStore contract: ${name}`, () => {
    it('returns entries newest first and pages with a cursor', async () => {
      const store = await make();
      const key = freshKey();
      const all = entries(7);
      await store.push(key, all, { cap: 100 });
      const expected = ids(newestFirst(all));
      const first = await store.range(key, { limit: 3 });
      assert.deepEqual(ids(first), expected.slice(0, 3));
      const second = await store.range(key, { limit: 3, before: first!.at(-1)! });
      assert.deepEqual(ids(second), expected.slice(3, 6));
      const last = await store.range(key, { limit: 3, before: second!.at(-1)! });
      assert.deepEqual(ids(last), expected.slice(6));
      assert.equal(await store.size(key), 7);
    });

    it('orders equal scores by id and pages through ties without loss', async () => {
      const store = await make();
      const key = freshKey();
      const tied = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, score: 42 }));
      await store.push(key, tied, { cap: 100 });
      const first = await store.range(key, { limit: 2 });
      assert.deepEqual(ids(first), ['e', 'd']);
      const rest = await store.range(key, { limit: 10, before: first!.at(-1)! });
      assert.deepEqual(ids(rest), ['c', 'b', 'a']);
    });

    it('trims to the cap, keeping the newest', async () => {
      const store = await make();
      const key = freshKey();
      const all = entries(10);
      await store.push(key, all.slice(0, 6), { cap: 5 });
      await store.push(key, all.slice(6), { cap: 5 });
      assert.equal(await store.size(key), 5);
      assert.deepEqual(
        ids(await store.range(key, { limit: 10 })),
        ids(newestFirst(all)).slice(0, 5),
      );
    });

    it('is idempotent: pushing an entry twice keeps one', async () => {
      const store = await make();
      const key = freshKey();
      const [e] = entries(1);
      await store.push(key, [e!], { cap: 10 });
      await store.push(key, [e!], { cap: 10 });
      assert.equal(await store.size(key), 1);
    });

    it('leaves an absent timeline absent with onlyIfExists', async () => {
      const store = await make();
      const key = freshKey();
      assert.equal(await store.push(key, entries(1), { cap: 10, onlyIfExists: true }), false);
      assert.equal(await store.exists(key), false);
      assert.equal(await store.range(key, { limit: 10 }), undefined, 'absent: no range');
      await store.replace(key, [], 10);
      assert.equal(await store.exists(key), true, 'an empty rebuilt timeline exists');
      assert.deepEqual(await store.range(key, { limit: 10 }), []);
      assert.equal(await store.size(key), 0);
      assert.equal(await store.push(key, entries(2), { cap: 10, onlyIfExists: true }), true);
      assert.equal(await store.size(key), 2);
    });

    it('replaces a whole timeline, capped', async () => {
      const store = await make();
      const key = freshKey();
      await store.push(key, entries(3), { cap: 10 });
      const fresh = entries(4);
      await store.replace(key, fresh, 3);
      assert.deepEqual(
        ids(await store.range(key, { limit: 10 })),
        ids(newestFirst(fresh)).slice(0, 3),
      );
    });

    it('never adds back below the floor (the highest score trimmed); replace resets it', async () => {
      const store = await make();
      const key = freshKey();
      const at = (score: number, id = `s${score}`) => ({ id, score });
      await store.push(
        key,
        [10, 20, 30, 40, 50].map((n) => at(n)),
        { cap: 3 },
      );
      assert.deepEqual(ids(await store.range(key, { limit: 10 })), ['s50', 's40', 's30']);
      // Floor (20, s20): 15 and (20, a20) are older (a reader gets them elsewhere); 25 is newer.
      await store.push(key, [at(15), at(20, 'a20'), at(25)], { cap: 10 });
      assert.deepEqual(ids(await store.range(key, { limit: 10 })), ['s50', 's40', 's30', 's25']);
      // Removing entries does not lower the floor.
      await store.remove(key, ['s50', 's40', 's30', 's25']);
      await store.push(key, [at(18)], { cap: 10 });
      assert.equal(await store.size(key), 0);
      assert.equal(await store.exists(key), true, 'an emptied timeline still exists');
      await store.replace(key, [at(5)], 10);
      assert.deepEqual(ids(await store.range(key, { limit: 10 })), ['s5']);
    });

    it('says a timeline is complete until something is trimmed off, and again after a replace', async () => {
      const store = await make();
      const key = freshKey();
      const at = (score: number) => ({ id: `s${score}`, score });
      assert.equal(await store.window(key, { limit: 2 }), undefined, 'absent');
      await store.push(key, [at(10), at(20), at(30)], { cap: 3 });
      assert.deepEqual(await store.window(key, { limit: 2 }), {
        entries: [at(30), at(20)],
        complete: true,
      });
      await store.push(key, [at(40)], { cap: 3 });
      assert.deepEqual(await store.window(key, { limit: 5, before: at(30) }), {
        entries: [at(20)],
        complete: false,
      });
      await store.remove(key, ['s40', 's30', 's20']);
      assert.equal((await store.window(key, { limit: 5 }))?.complete, false, 'removal keeps it');
      await store.replace(key, [], 3);
      assert.deepEqual(await store.window(key, { limit: 5 }), { entries: [], complete: true });
    });

    it('marks a timeline incomplete without a floor: entries still go in, trimming keeps it so', async () => {
      const store = await make();
      const key = freshKey();
      const at = (score: number) => ({ id: `s${score}`, score });
      await store.markIncomplete(key);
      assert.equal(await store.exists(key), false, 'an absent timeline stays absent');
      await store.push(key, [at(20)], { cap: 2 });
      await store.markIncomplete(key);
      await store.push(key, [at(10)], { cap: 2 });
      assert.deepEqual(await store.window(key, { limit: 5 }), {
        entries: [at(20), at(10)],
        complete: false,
      });
      await store.push(key, [at(30), at(5)], { cap: 2 });
      assert.deepEqual(await store.window(key, { limit: 5 }), {
        entries: [at(30), at(20)],
        complete: false,
      });
      await store.replace(key, [at(1)], 2);
      assert.equal((await store.window(key, { limit: 5 }))?.complete, true);
    });

    it('pushes to many timelines at once exactly as one push to each: floor, cap, onlyIfExists', async () => {
      const store = await make();
      const at = (score: number, id = `s${score}`) => ({ id, score });
      // Four timelines in four states: absent, empty, under a floor (20), and full to the cap.
      const [absent, empty, floored, full] = [freshKey(), freshKey(), freshKey(), freshKey()];
      const twins = [absent, empty, floored, full].map((k) => `${k}:twin`);
      const setUp = async (keys: string[]) => {
        await store.replace(keys[1]!, [], 3);
        await store.push(
          keys[2]!,
          [10, 20, 30, 40, 50].map((n) => at(n)),
          { cap: 3 },
        );
        await store.remove(keys[2]!, ['s50']);
        await store.push(
          keys[3]!,
          [60, 70, 80].map((n) => at(n)),
          { cap: 3 },
        );
      };
      await setUp([absent, empty, floored, full]);
      await setUp(twins);
      const pushed = [at(15), at(20, 'a20'), at(25), at(90)];
      const opts = { cap: 3, onlyIfExists: true };
      const took = await store.pushMany([absent, empty, floored, full], pushed, opts);
      const one = await Promise.all(twins.map((k) => store.push(k, pushed, opts)));
      assert.deepEqual(took, [false, true, true, true]);
      assert.deepEqual(took, one);
      assert.equal(await store.exists(absent), false, 'an absent timeline stays absent');
      assert.deepEqual(ids(await store.range(empty, { limit: 10 })), ['s90', 's25', 'a20']);
      assert.deepEqual(ids(await store.range(floored, { limit: 10 })), ['s90', 's40', 's30']);
      assert.deepEqual(ids(await store.range(full, { limit: 10 })), ['s90', 's80', 's70']);
      for (const [i, key] of [empty, floored, full].entries()) {
        assert.deepEqual(
          await store.window(key, { limit: 10 }),
          await store.window(twins[i + 1]!, { limit: 10 }),
        );
      }
      // Without onlyIfExists the absent one is made; nothing at all: nothing changes.
      assert.deepEqual(await store.pushMany([absent], [at(5)], { cap: 3 }), [true]);
      assert.deepEqual(ids(await store.range(absent, { limit: 10 })), ['s5']);
      assert.deepEqual(await store.pushMany([], pushed, opts), []);
      assert.deepEqual(await store.pushMany([empty], [], opts), [true]);
      assert.equal(await store.size(empty), 3);
    });

    it('removes ids from many timelines at once, leaving absent ones absent', async () => {
      const store = await make();
      const all = entries(4);
      const [a, b, absent] = [freshKey(), freshKey(), freshKey()];
      await store.push(a, all, { cap: 10 });
      await store.push(b, all.slice(0, 2), { cap: 10 });
      await store.removeMany([a, b, absent], [all[0]!.id, all[3]!.id, 'not-there']);
      assert.deepEqual(
        ids(await store.range(a, { limit: 10 })).sort(),
        [all[1]!.id, all[2]!.id].sort(),
      );
      assert.deepEqual(ids(await store.range(b, { limit: 10 })), [all[1]!.id]);
      assert.equal(await store.exists(absent), false);
      await store.removeMany([], [all[1]!.id]);
      await store.removeMany([a], []);
      assert.equal(await store.size(a), 2);
    });

    it('removes entries and deletes timelines', async () => {
      const store = await make();
      const key = freshKey();
      const all = entries(3);
      await store.push(key, all, { cap: 10 });
      await store.remove(key, [all[1]!.id, 'not-there']);
      assert.deepEqual(
        ids(await store.range(key, { limit: 10 })).sort(),
        [all[0]!.id, all[2]!.id].sort(),
      );
      await store.remove(freshKey(), [all[0]!.id]);
      const other = freshKey();
      await store.push(other, all, { cap: 10 });
      await store.delete(key, other, freshKey());
      assert.equal(await store.exists(key), false);
      assert.equal(await store.exists(other), false);
      assert.equal(await store.range(key, { limit: 10 }), undefined);
      await store.delete();
    });
  });
}

describe('timeline scores', () => {
  it('sort like the UUIDv7 ids they come from', () => {
    const made = Array.from({ length: 200 }, () => newId());
    const byScore = [...made].sort((a, b) => scoreOfId(a) - scoreOfId(b) || (a < b ? -1 : 1));
    assert.deepEqual(byScore, [...made].sort());
    assert.ok(Number.isSafeInteger(scoreOfId(made[0]!)));
  });
});
