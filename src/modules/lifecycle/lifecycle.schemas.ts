import { Type } from 'typebox';
import type { ExportRow } from './exports.repository.ts';

export const DeleteAccountBody = Type.Object(
  { password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);

export const DeletionScheduled = Type.Object({
  status: Type.Literal('deactivated'),
  erase_after: Type.String({ format: 'date-time' }),
});

export const ExportState = Type.Object({
  id: Type.String(),
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('ready'),
    Type.Literal('failed'),
    Type.Literal('expired'),
  ]),
  requested_at: Type.String({ format: 'date-time' }),
  ready_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  /** When the mailed link stops working. */
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  bytes: Type.Union([Type.Integer(), Type.Null()]),
});

export const ExportTokenParams = Type.Object({
  token: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
});

export function presentExport(row: ExportRow) {
  // Past its expiry a ready export is expired, even before housekeeping has removed it.
  const lapsed = row.status === 'ready' && row.expires_at !== null && row.expires_at <= new Date();
  return {
    id: row.id,
    status: lapsed ? ('expired' as const) : row.status,
    requested_at: row.created_at.toISOString(),
    ready_at: row.ready_at?.toISOString() ?? null,
    expires_at: row.expires_at?.toISOString() ?? null,
    bytes: row.bytes === null ? null : Number(row.bytes),
  };
}
