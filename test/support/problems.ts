import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';

export interface ProblemBody {
  code: string;
  status: number;
  detail: string;
  errors?: { path: string; in?: string; code?: string; message: string }[];
}

/** Asserts an RFC 9457 answer with this status and stable code; returns its body. */
export function assertProblem(
  res: LightMyRequestResponse,
  status: number,
  code: string,
): ProblemBody {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json<ProblemBody>();
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  return body;
}

/** Asserts a 400 validation_failed answer with an error at `path`; returns its body. */
export function assertInvalid(res: LightMyRequestResponse, path: string): ProblemBody {
  const body = assertProblem(res, 400, 'validation_failed');
  const paths = (body.errors ?? []).map((e) => e.path);
  assert.ok(paths.includes(path), `expected an error at ${path}, got ${JSON.stringify(paths)}`);
  return body;
}
