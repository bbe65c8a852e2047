import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { App } from '../../src/http/types.ts';

let counter = 0;

/** A username no other test in the run has used. */
export function uniqueUsername(prefix = 'user'): string {
  counter += 1;
  return `${prefix}_${counter}_${randomBytes(3).toString('hex')}`.slice(0, 30);
}

export interface NewUser {
  username: string;
  email: string;
  password: string;
  dob: string;
  display_name?: string;
}

export function newUser(overrides: Partial<NewUser> = {}): NewUser {
  const username = overrides.username ?? uniqueUsername();
  return {
    username,
    email: `${username}@example.com`,
    password: 'correct-horse-battery',
    dob: '1995-06-15',
    ...overrides,
  };
}

export interface Account extends NewUser {
  id: string;
  accessToken: string;
  refreshToken: string;
  auth: { authorization: string };
}

/** Registers and logs in a user through the public API. */
export async function createAccount(app: App, overrides: Partial<NewUser> = {}): Promise<Account> {
  const input = newUser(overrides);
  const reg = await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: input });
  assert.equal(reg.statusCode, 201, reg.body);
  const session = await login(app, input.username, input.password);
  return {
    ...input,
    username: input.username.toLowerCase(),
    id: reg.json<{ id: string }>().id,
    accessToken: session.access_token,
    refreshToken: session.refresh_token,
    auth: { authorization: `Bearer ${session.access_token}` },
  };
}

export async function login(app: App, loginName: string, password: string) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { login: loginName, password },
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ access_token: string; refresh_token: string }>();
}
