import { loadConfig } from '../config.ts';
import { createContext, type Context } from '../app/context.ts';
import { AppError } from '../errors.ts';
import type { UserRole } from '../infra/db/schema.ts';

const USAGE = `Usage: kith admin grant USERNAME admin|moderator
       kith admin revoke USERNAME

Grants a role, or takes every role away (back to user). The first admin is made here; admins
then grant and revoke moderator through the API (PUT /api/v1/admin/accounts/{username}/role).
Every change goes into the audit log with no moderator (the command line). See docs/MODERATION.md.`;

/** Parses `grant NAME ROLE` / `revoke NAME`; undefined when the arguments say nothing valid. */
export function parseAdminArgs(args: string[]): { username: string; role: UserRole } | undefined {
  const [verb, username, role, ...extra] = args;
  if (!username || extra.length > 0) return undefined;
  if (verb === 'grant' && (role === 'admin' || role === 'moderator')) return { username, role };
  if (verb === 'revoke' && role === undefined) return { username, role: 'user' };
  return undefined;
}

/** `kith admin`: grant or revoke roles. `context` is for tests; the CLI opens its own. */
export async function adminCommand(args: string[], context?: Context): Promise<number> {
  if (args[0] === 'help' || args.includes('--help')) return (void console.log(USAGE), 0);
  const parsed = parseAdminArgs(args);
  if (!parsed) {
    console.error(USAGE);
    return 2;
  }
  const ctx =
    context ??
    (await createContext(
      loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }),
    ));
  try {
    const user = await ctx.moderation.setRole(null, parsed.username, parsed.role);
    console.log(`${user.username} is now ${user.role === 'user' ? 'a user' : `a ${user.role}`}.`);
    return 0;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    console.error(`kith admin: ${err.message}`);
    return 1;
  } finally {
    if (!context) await ctx.close();
  }
}
