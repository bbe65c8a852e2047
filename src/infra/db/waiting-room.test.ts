import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WaitingRoom } from './waiting-room.ts';

/** A room over a pool of `size` with a clock the test moves. */
function room(max: number, size = 2) {
  const clock = { t: 0, free: false };
  const r = new WaitingRoom(
    max,
    size,
    () => clock.free,
    () => clock.t,
  );
  return { r, clock };
}

describe('WaitingRoom', () => {
  it('never refuses while a connection is free', () => {
    const { r, clock } = room(1);
    clock.free = true;
    r.waiting = 50;
    clock.t = 1e6;
    assert.equal(r.full(1), false);
  });

  it('refuses beyond a fixed bound', () => {
    const { r } = room(2);
    r.waiting = 1;
    assert.equal(r.full(undefined), false);
    r.waiting = 2;
    assert.equal(r.full(undefined), true);
  });

  it('refuses a request whose expected wait is longer than its time left', () => {
    const { r, clock } = room(0, 2);
    // Connections held 100 ms each, then many waiting: 10 ahead → 11 × 100 / 2 = 550 ms.
    for (let i = 0; i < 50; i++) {
      const client = {};
      r.taken(client);
      clock.t += 100;
      r.returned(client);
    }
    r.waiting = 10;
    assert.equal(r.full(1_000), false);
    assert.equal(r.full(500), true);
    assert.equal(r.full(undefined), false, 'without a deadline, it waits');
  });

  it('refuses when the pool is stuck longer than the time left', () => {
    const { r, clock } = room(0, 2);
    r.taken({});
    r.taken({});
    clock.t += 300;
    assert.equal(r.full(1_000), false);
    clock.t += 800;
    assert.equal(r.full(1_000), true, 'nothing taken or given back for 1.1 s');
    r.returned({});
    assert.equal(r.full(1_000), false, 'moving again');
  });
});
