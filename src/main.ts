#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, settingsMarkdown, type Config } from './config.ts';
import { createContext } from './context.ts';
import { migrateToLatest } from './infra/db/database.ts';
import { createLogger } from './logger.ts';
import { startApi } from './roles/api.ts';

const USAGE = `Usage: kith <command>

Commands:
  serve      start the HTTP API (embedded database unless DATABASE_URL is set)
  migrate    apply pending database migrations and exit
  config     print the table of environment variables (Markdown)
  help       show this text

Configuration comes from environment variables; see \`kith config\` or the README.`;

async function serve(config: Config): Promise<void> {
  const ctx = await createContext(config);
  const api = await startApi(ctx);
  ctx.log.info({ url: api.url, database: ctx.database.kind }, 'kith is serving');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    ctx.log.info({ signal }, 'shutting down: draining requests');
    // Fixed order: stop accepting and drain HTTP, then close the database.
    const force = setTimeout(() => {
      ctx.log.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeout * 1000);
    force.unref();
    api
      .stop()
      .then(() => ctx.close())
      .then(() => {
        ctx.log.info('stopped');
        process.exitCode = 0;
      })
      .catch((err: unknown) => {
        ctx.log.error({ err }, 'shutdown failed');
        process.exitCode = 1;
      });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

async function migrate(config: Config): Promise<void> {
  const ctx = await createContext({ ...config, migrateOnStart: false });
  try {
    const applied = await migrateToLatest(ctx.database.db);
    ctx.log.info(
      { applied: applied.map((m) => m.migrationName) },
      applied.length ? 'migrated' : 'up to date',
    );
  } finally {
    await ctx.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: false });
  const command = positionals[0] ?? 'serve';
  if (command === 'help' || command === '--help') return void console.log(USAGE);
  if (command === 'config') return void console.log(settingsMarkdown());
  const config = loadConfig();
  if (command === 'serve') return serve(config);
  if (command === 'migrate') return migrate(config);
  console.error(`Unknown command "${command}".\n\n${USAGE}`);
  process.exitCode = 2;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`kith: configuration error: ${err.message}`);
  } else {
    createLogger('error').fatal({ err }, 'kith failed to start');
  }
  process.exit(1);
});
