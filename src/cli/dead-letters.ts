import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { createContext } from '../app/context.ts';

const USAGE = `Usage: kith dead-letters GROUP [--replay] [--limit N]

Lists the events a consumer group (feed, notifications, mail) gave up on, oldest first; with
--replay, gives them a fresh round of attempts (handlers are idempotent, so this is safe once
the outage that killed them is over). Needs AMQP_URL: the in-process bus keeps its dead
letters in the memory of the server process.`;

/** `kith dead-letters`: inspect or replay a consumer group's dead-letter queue. */
export async function deadLettersCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      replay: { type: 'boolean', default: false },
      limit: { type: 'string', default: '1000' },
      help: { type: 'boolean', default: false },
    },
  });
  const group = positionals[0];
  const limit = Number(values.limit);
  if (values.help || !group || !Number.isInteger(limit) || limit < 1) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  if (!config.amqpUrl) {
    console.error('kith dead-letters needs AMQP_URL (RabbitMQ).\n\n' + USAGE);
    return 2;
  }
  const ctx = await createContext({ ...config, migrateOnStart: false });
  try {
    if (values.replay) {
      const replayed = await ctx.bus.replayDeadLetters(group, limit);
      console.log(`${replayed} dead-lettered event(s) of "${group}" sent back for another try.`);
    } else {
      const events = await ctx.bus.deadLetters(group, limit);
      for (const e of events) console.log(`${e.occurred_at}  ${e.type.padEnd(28)}  ${e.id}`);
      console.log(`${events.length} dead-lettered event(s) in "${group}".`);
    }
    return 0;
  } finally {
    await ctx.close();
  }
}
