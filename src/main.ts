#!/usr/bin/env node
import { describeBackends } from './app/backends.ts';
import { adminCommand } from './cli/admin.ts';
import { deadLettersCommand } from './cli/dead-letters.ts';
import { scriptCommand } from './cli/script.ts';
import { seedCommand } from './cli/seed-command.ts';
import { ConfigError, loadConfig, settingsMarkdown, type Config } from './config.ts';
import { createContext } from './app/context.ts';
import { DatabaseInUseError, migrateToLatest } from './infra/db/database.ts';
import { createLogger } from './logger.ts';
import { startApi, type RunningRole } from './app/roles/api.ts';
import { startWorker } from './app/roles/worker.ts';

const USAGE = `Usage: kith <command>   (npm start runs kith serve)

Commands:
  serve      run the roles in ROLES (default: api and worker in one process)
  worker     run only the worker role (same as ROLES=worker kith serve)
  migrate    apply pending database migrations and exit
  script     replay a command script against a running kith (kith script --help)
  seed       fill the database with demo users, follows, posts and likes (kith seed --help)
  dead-letters GROUP [--replay]   list (or replay) events a consumer group gave up on
  admin grant USERNAME admin|moderator | admin revoke USERNAME   set a user's role
  config     print the table of environment variables (Markdown)
  help       show this text (also --help, -h)

Configuration comes from environment variables; see \`kith config\` or docs/CONFIGURATION.md.`;

async function serve(config: Config): Promise<void> {
  const ctx = await createContext(config);
  // Which database, cache, bus and mailer: named in the ready line, without credentials.
  const backends = describeBackends(config);
  // Started in this order, stopped in reverse: HTTP stops accepting and drains first.
  const running: { name: string; role: RunningRole }[] = [];
  if (config.roles.includes('worker'))
    running.push({ name: 'worker', role: await startWorker(ctx) });
  if (config.roles.includes('api')) {
    const api = await startApi(ctx);
    running.push({ name: 'api', role: api });
    ctx.log.info({ url: api.url, roles: config.roles, ...backends }, 'kith is serving');
  } else {
    ctx.log.info({ roles: config.roles, ...backends }, 'kith worker is running');
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    ctx.log.info({ signal }, 'shutting down: draining');
    const force = setTimeout(() => {
      ctx.log.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeout * 1000);
    force.unref();
    (async () => {
      for (const { name, role } of [...running].reverse()) {
        await role.stop();
        ctx.log.info({ role: name }, 'role stopped');
      }
      await ctx.close();
    })().then(
      () => {
        ctx.log.info('stopped');
        process.exitCode = 0;
      },
      (err: unknown) => {
        ctx.log.error({ err }, 'shutdown failed');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

async function migrate(config: Config): Promise<void> {
  // A migration may rightly run long (an index on a big table): no statement timeout here.
  const ctx = await createContext({
    ...config,
    migrateOnStart: false,
    databaseStatementTimeout: 0,
  });
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

/**
 * Runs the command named by the first argument. Help (`help`, `--help`, `-h`) goes to stdout with
 * exit 0. No command at all is a usage error, like an unknown one: the usage goes to stderr and
 * the exit code is 2, so a deployment that forgot `serve` fails visibly instead of exiting
 * cleanly (or serving by accident).
 */
async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    console.error(`kith: no command given (to run the server: kith serve).\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    return void console.log(USAGE);
  }
  if (command === 'config') return void console.log(settingsMarkdown());
  if (command === 'serve') return serve(loadConfig());
  if (command === 'worker') return serve(loadConfig({ ...process.env, ROLES: 'worker' }));
  if (command === 'migrate') return migrate(loadConfig());
  if (command === 'script') return void (process.exitCode = await scriptCommand(rest));
  if (command === 'seed') return void (process.exitCode = await seedCommand(rest));
  if (command === 'dead-letters') return void (process.exitCode = await deadLettersCommand(rest));
  if (command === 'admin') return void (process.exitCode = await adminCommand(rest));
  console.error(`kith: unknown command "${command}".\n\n${USAGE}`);
  process.exitCode = 2;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`kith: configuration error: ${err.message}`);
  } else if (err instanceof DatabaseInUseError) {
    console.error(`kith: ${err.message}`);
  } else {
    createLogger('error').fatal({ err }, 'kith failed to start');
  }
  process.exit(1);
});
