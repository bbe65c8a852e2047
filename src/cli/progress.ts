/**
 * Progress of long command-line work on stderr. On a terminal: one line rewritten in place
 * (`\r`) with a bar, counts, rate and time left. Elsewhere (a pipe, a log file, CI): a plain
 * line every `everyPercent` per cent or every `everyMs`, whichever comes first.
 */

/** Where progress goes: process.stderr, or a stand-in in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface ProgressOptions {
  /** What is counted, after the numbers: `rows`, `commands`. */
  unit: string;
  /** Redraws of the terminal line at most this often (default 100 ms). */
  redrawMs?: number;
  /** Without a terminal, a line at least every this many per cent (default 10)… */
  everyPercent?: number;
  /** …or after this long without one (default 5 s). */
  everyMs?: number;
  /** Milliseconds, monotonic; tests pass a fake clock. */
  now?: () => number;
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');

/** `4.2 s`, `42 s`, `3 min 05 s`, `1 h 02 min`. */
export function duration(ms: number): string {
  if (ms < 9_950) return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

export class Progress {
  readonly #stream: ProgressStream;
  readonly #tty: boolean;
  readonly #unit: string;
  readonly #redrawMs: number;
  readonly #everyPercent: number;
  readonly #everyMs: number;
  readonly #now: () => number;
  readonly #started: number;
  #lastWrite = -Infinity;
  #lastPercent = 0;
  #drawn = false;
  #finished = false;

  constructor(stream: ProgressStream, options: ProgressOptions) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
    this.#unit = options.unit;
    this.#redrawMs = options.redrawMs ?? 100;
    this.#everyPercent = options.everyPercent ?? 10;
    this.#everyMs = options.everyMs ?? 5_000;
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
  }

  /** `done` of `total` so far; `stage` names the current step (a table, a file). */
  update(done: number, total: number, stage = ''): void {
    if (this.#finished) return;
    const now = this.#now();
    const percent = total > 0 ? Math.min(100, (done / total) * 100) : 100;
    if (this.#tty) {
      if (now - this.#lastWrite < this.#redrawMs && done < total) return;
      this.#stream.write(`\r${this.#line(done, total, percent, now, stage, true)}\x1b[K`);
      this.#drawn = true;
    } else {
      const step = Math.floor(percent / this.#everyPercent) * this.#everyPercent;
      const due = step > this.#lastPercent || now - this.#lastWrite >= this.#everyMs;
      if (!due || done >= total) return; // the end is reported by finish()
      this.#lastPercent = Math.max(this.#lastPercent, step);
      this.#stream.write(`${this.#line(done, total, percent, now, stage, false)}\n`);
    }
    this.#lastWrite = now;
  }

  /** Ends the display: the terminal line is completed, and the total time is given. */
  finish(done: number): void {
    if (this.#finished) return;
    this.#finished = true;
    const elapsed = this.#now() - this.#started;
    const rate = elapsed > 0 ? ` (${count((done / elapsed) * 1000)} ${this.#unit}/s)` : '';
    const text = `${count(done)} ${this.#unit} in ${duration(elapsed)}${rate}`;
    this.#stream.write(this.#tty && this.#drawn ? `\r${text}\x1b[K\n` : `${text}\n`);
  }

  #line(
    done: number,
    total: number,
    percent: number,
    now: number,
    stage: string,
    bar: boolean,
  ): string {
    const elapsed = now - this.#started;
    const rate = elapsed > 0 ? (done / elapsed) * 1000 : 0;
    const parts = [
      bar ? `${Math.floor(percent)}%`.padStart(4) : `${Math.floor(percent)}%`,
      `${count(done)}/${count(total)} ${this.#unit}`,
    ];
    if (bar) {
      const width = 20;
      const filled = Math.round((percent / 100) * width);
      parts.unshift(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`);
    }
    if (rate > 0) {
      parts.push(`${count(rate)}/s`);
      parts.push(`${duration(((total - done) / rate) * 1000)} left`);
    }
    if (stage) parts.push(stage);
    return parts.join('  ');
  }
}
