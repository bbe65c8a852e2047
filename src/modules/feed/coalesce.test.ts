import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coalesce } from './coalesce.ts';

/** A batch operation that records its batches and finishes when told to. */
function recorder() {
  const batches: number[][] = [];
  const finish: (() => void)[] = [];
  let fail: Error | undefined;
  const run = (items: number[]) => {
    batches.push([...items]);
    if (fail) return Promise.reject(fail);
    return new Promise<void>((resolve) => finish.push(resolve));
  };
  return { run, batches, finishOne: () => finish.shift()!(), failNext: (e: Error) => (fail = e) };
}

describe('coalesce', () => {
  it('runs one batch at a time and gathers every arrival meanwhile into the next', async () => {
    const r = recorder();
    const add = coalesce(r.run);
    const settled: number[] = [];
    const track = (n: number) => add(n).then(() => settled.push(n));
    const first = [track(1), track(2)];
    await Promise.resolve(); // the first batch starts
    await Promise.resolve();
    assert.deepEqual(r.batches, [[1, 2]]);
    const second = [track(3), track(4), track(5)];
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(r.batches, [[1, 2]], 'nothing else runs while a batch does');
    assert.deepEqual(settled, [], 'no call settles before its batch');
    r.finishOne();
    await Promise.all(first);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(r.batches, [
      [1, 2],
      [3, 4, 5],
    ]);
    assert.deepEqual(settled, [1, 2], 'the second batch is still running');
    r.finishOne();
    await Promise.all(second);
    assert.deepEqual(settled, [1, 2, 3, 4, 5]);
  });

  it("rejects a failed batch's calls only, and goes on with the next", async () => {
    const r = recorder();
    const add = coalesce(r.run);
    r.failNext(new Error('database down'));
    await assert.rejects(Promise.all([add(1), add(2)]), /database down/);
    const r2 = recorder();
    const add2 = coalesce(async (items: number[]) => {
      if (items.includes(1)) throw new Error('bad batch');
      await r2.run(items);
    });
    const failed = add2(1);
    const later = new Promise((resolve) => setImmediate(resolve)).then(() => add2(2));
    await assert.rejects(failed, /bad batch/);
    await new Promise((resolve) => setImmediate(resolve));
    r2.finishOne();
    await later;
    assert.deepEqual(r2.batches, [[2]]);
  });
});
