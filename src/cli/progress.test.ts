import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { duration, Progress } from './progress.ts';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, write: (text: string) => writes.push(text) }, writes };
}

function fakeClock() {
  let t = 1_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('Progress', () => {
  it('on a terminal rewrites one line with bar, counts, rate and time left', () => {
    const { stream, writes } = fakeStream(true);
    const clock = fakeClock();
    const p = new Progress(stream, { unit: 'rows', now: clock.now });
    clock.advance(1_000);
    p.update(1_000, 4_000, 'users');
    assert.equal(
      writes[0],
      '\r[#####---------------]   25%  1,000/4,000 rows  1,000/s  3.0 s left  users\x1b[K',
    );
    clock.advance(50);
    p.update(1_050, 4_000, 'users');
    assert.equal(writes.length, 1, 'no redraw within 100 ms');
    clock.advance(1_950);
    p.update(2_000, 4_000, 'follows');
    assert.equal(
      writes[1],
      '\r[##########----------]   50%  2,000/4,000 rows  667/s  3.0 s left  follows\x1b[K',
    );
    clock.advance(1_000);
    p.update(4_000, 4_000, 'posts');
    assert.match(writes[2]!, /100% {2}4,000\/4,000 rows/, 'the last update is always drawn');
    p.finish(4_000);
    assert.equal(writes[3], '\r4,000 rows in 4.0 s (1,000 rows/s)\x1b[K\n');
    assert.ok(writes.every((w) => !w.slice(0, -1).includes('\n') || w.endsWith('\x1b[K\n')));
  });

  it('elsewhere writes a plain line every 10 per cent', () => {
    const { stream, writes } = fakeStream(false);
    const clock = fakeClock();
    const p = new Progress(stream, { unit: 'rows', now: clock.now });
    for (let done = 100; done < 1_000; done += 25) {
      clock.advance(10);
      p.update(done, 1_000, 'users');
    }
    assert.equal(writes.length, 9, writes.join(''));
    assert.equal(writes[0], '10%  100/1,000 rows  10,000/s  0.1 s left  users\n');
    assert.ok(writes.every((w) => !w.includes('\r') && !w.includes('\x1b') && w.endsWith('\n')));
    p.update(1_000, 1_000);
    assert.equal(writes.length, 9, 'the end is left to finish()');
    p.finish(1_000);
    assert.equal(writes.at(-1), '1,000 rows in 0.4 s (2,778 rows/s)\n');
  });

  it('elsewhere also writes a line after a few seconds without one', () => {
    const { stream, writes } = fakeStream(false);
    const clock = fakeClock();
    const p = new Progress(stream, { unit: 'rows', now: clock.now, everyMs: 5_000 });
    clock.advance(1_000);
    p.update(1, 1_000);
    assert.equal(writes.length, 1, 'the first update is reported');
    clock.advance(4_000);
    p.update(2, 1_000);
    assert.equal(writes.length, 1);
    clock.advance(1_000);
    p.update(3, 1_000);
    assert.equal(writes.length, 2);
    assert.match(writes[1]!, /^0% {2}3\/1,000 rows {2}1\/s {2}33 min 14 s left\n$/);
  });

  it('formats durations', () => {
    assert.equal(duration(400), '0.4 s');
    assert.equal(duration(59_400), '59 s');
    assert.equal(duration(185_000), '3 min 05 s');
    assert.equal(duration(3_720_000), '1 h 02 min');
  });
});
