type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/**
 * Polls `probe` every 25 ms until it returns a truthy value, and returns that value; throws
 * after the deadline. For outcomes of other processes, which no in-process event announces.
 */
export async function waitFor<T>(
  probe: () => Promise<T> | T,
  what: string,
  ms = 15_000,
): Promise<Truthy<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value as Truthy<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
