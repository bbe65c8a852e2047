import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withDatabaseBudget } from './deadline.ts';
import { DatabaseSaturatedError, Lane } from './lane.ts';

/** A piece of work that runs until released. */
function held() {
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  return { work: () => done, release };
}

describe('Lane', () => {
  it('runs at most `size` at once, queues `queue` more, and refuses the rest at once', async () => {
    const lane = new Lane(2, 1);
    const [a, b, c] = [held(), held(), held()];
    const runs = [lane.run(a.work), lane.run(b.work)];
    assert.deepEqual(lane.load, { running: 2, waiting: 0 });
    let cStarted = false;
    const queued = lane.run(() => ((cStarted = true), c.work()));
    assert.deepEqual(lane.load, { running: 2, waiting: 1 });
    await assert.rejects(
      lane.run(async () => assert.fail('must not run')),
      DatabaseSaturatedError,
    );
    a.release();
    await runs[0];
    await new Promise(setImmediate);
    assert.ok(cStarted, 'the waiting run takes the freed slot');
    assert.deepEqual(lane.load, { running: 2, waiting: 0 });
    b.release();
    c.release();
    await Promise.all([runs[1], queued]);
    assert.deepEqual(lane.load, { running: 0, waiting: 0 });
  });

  it('frees the slot when the work fails', async () => {
    const lane = new Lane(1, 0);
    await assert.rejects(
      lane.run(() => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await lane.run(async () => 42), 42);
  });

  it("gives up waiting when the request's database time runs out", async () => {
    const lane = new Lane(1, 5);
    const a = held();
    const running = lane.run(a.work);
    const budget = { left: 30, statements: 0 };
    const started = performance.now();
    await assert.rejects(
      withDatabaseBudget(budget, () => lane.run(async () => assert.fail('must not run'))),
      DatabaseSaturatedError,
    );
    assert.ok(performance.now() - started < 1_000);
    assert.ok(budget.left < 5, 'the wait was charged');
    assert.deepEqual(lane.load, { running: 1, waiting: 0 }, 'the waiter left the queue');
    a.release();
    await running;
    assert.deepEqual(lane.load, { running: 0, waiting: 0 });
  });
});
