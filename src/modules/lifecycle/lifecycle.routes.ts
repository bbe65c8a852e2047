import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { lifecycleOf } from './lifecycle.ts';
import {
  DeleteAccountBody,
  DeletionScheduled,
  ExportState,
  ExportTokenParams,
  presentExport,
} from './lifecycle.schemas.ts';

const tags = ['me'];

/** Deleting your account and exporting your data. */
export function lifecycleRoutes(ctx: Context) {
  const { deletion, exports } = lifecycleOf(ctx);
  return async (app: App) => {
    app.delete(
      '/me',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Delete your account',
          description: `Deactivates the account at once (every session ends, the profile and content disappear) and erases it after ${ctx.config.accountDeletionGraceDays} days (ACCOUNT_DELETION_GRACE_DAYS). Logging in before then cancels the deletion. The username stays reserved for ever. 403 \`wrong_password\`.`,
          body: DeleteAccountBody,
          response: { 202: DeletionScheduled },
        },
      },
      async (request, reply) => {
        const eraseAfter = await deletion.request(
          principalOf(request).userId,
          request.body.password,
        );
        return reply
          .status(202)
          .send({ status: 'deactivated' as const, erase_after: eraseAfter.toISOString() });
      },
    );

    app.post(
      '/me/export',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Ask for an export of your data',
          description:
            'The worker builds an archive of everything about you (one JSON document plus your media files) and mails you a link that works for EXPORT_LINK_TTL_HOURS. 409 `export_in_progress` while one is being built; 429 `export_rate_limited` within EXPORT_MIN_INTERVAL_HOURS of the last one.',
          response: { 202: ExportState },
        },
      },
      async (request, reply) =>
        reply.status(202).send(presentExport(await exports.request(principalOf(request).userId))),
    );

    app.get(
      '/me/export',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Your latest data export',
          description: '404 `no_export` when you never asked for one.',
          response: { 200: ExportState },
        },
      },
      async (request) => presentExport(await exports.status(principalOf(request).userId)),
    );

    app.get(
      '/exports/:token',
      {
        schema: {
          tags,
          summary: 'Download a data export (the mailed link)',
          description:
            'No sign-in: the link itself is the secret. A gzipped tar holding `kith-export.json` (everything about you) and `media/<id>.<ext>` (your pictures, listed under `media` in the document). 404 `export_not_found` once the link has expired.',
          params: ExportTokenParams,
          response: {
            // A Buffer is sent as it is (never serialized); the schema documents it.
            200: Type.Unsafe<Buffer>({
              type: 'string',
              format: 'binary',
              description: 'The archive (application/gzip: a .tar.gz)',
            }),
          },
        },
      },
      async (request, reply) => {
        const { data, createdAt } = await exports.download(request.params.token);
        const day = createdAt.toISOString().slice(0, 10);
        return reply
          .type('application/gzip')
          .header('cache-control', 'no-store')
          .header('content-disposition', `attachment; filename="kith-export-${day}.tar.gz"`)
          .send(data);
      },
    );
  };
}
