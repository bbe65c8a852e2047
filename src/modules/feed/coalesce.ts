interface Batch<T> {
  items: T[];
  done: Promise<void>;
}

/**
 * Turns a batch operation into a per-item call whose items are gathered into few batches: at
 * most one batch runs at a time, and every item that arrives meanwhile joins the next one.
 * Each call settles when its own batch has (rejected if the batch failed), so a caller never
 * goes on believing its item done before it is. Under load this is one statement for many
 * items; when idle, an item waits for nothing but its own batch.
 */
export function coalesce<T>(run: (items: T[]) => Promise<void>): (item: T) => Promise<void> {
  let open: Batch<T> | undefined;
  let previous: Promise<unknown> = Promise.resolve();
  return (item) => {
    if (!open) {
      const items: T[] = [];
      const batch: Batch<T> = {
        items,
        done: previous.then(() => {
          // Closed once it starts: later arrivals wait for the batch after it.
          if (open === batch) open = undefined;
          return run(items);
        }),
      };
      previous = batch.done.catch(() => {}); // a failure is for this batch's callers
      open = batch;
    }
    open.items.push(item);
    return open.done;
  };
}
