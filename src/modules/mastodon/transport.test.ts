import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { api } from '../../../test/support/api.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import type { App } from '../../http/types.ts';

let app: App;
const m = () => api(() => app);
before(async () => {
  ({ app } = await createTestApp());
});

/** A multipart body as a browser's FormData sends it. */
async function multipart(fields: Record<string, string>) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  const request = new Request('http://kith.test/', { method: 'POST', body: form });
  return {
    payload: Buffer.from(await request.arrayBuffer()),
    headers: { 'content-type': request.headers.get('content-type')! },
  };
}

describe('Mastodon transport', () => {
  it('answers errors as {"error"} JSON with Mastodon status codes', async () => {
    const [ana] = await m().accounts(1);
    const anonymous = await app.inject({ url: '/api/v1/accounts/verify_credentials' });
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(anonymous.json().error, 'The access token is invalid');
    for (const id of ['nope', '0190a000-0000-7000-8000-000000000000']) {
      const res = await app.inject({ url: `/api/v1/accounts/${id}`, headers: ana.auth });
      assert.equal(res.statusCode, 404, id);
      assert.deepEqual(Object.keys(res.json()).sort(), ['code', 'error', 'error_description']);
      assert.equal(res.json().error, 'Record not found');
    }
    const empty = await app.inject({
      method: 'POST',
      url: '/api/v1/statuses',
      headers: ana.auth,
      payload: { status: '   ' },
    });
    assert.equal(empty.statusCode, 422, empty.body);
    assert.match(empty.json().error, /^Validation failed: /);
    assert.equal(empty.json().code, 'validation_failed');
  });

  it('leaves kith’s own API as it was: problem+json, JSON bodies only', async () => {
    const res = await app.inject({ url: '/api/v1/me' });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    const [ana] = await m().accounts(1);
    const form = await app.inject({
      method: 'POST',
      url: '/api/v1/posts',
      headers: { ...ana.auth, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'text=hi',
    });
    assert.equal(form.statusCode, 415);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
  });

  it('reads urlencoded bodies and Rails array queries', async () => {
    const [ana, ben, cy] = await m().accounts(3);
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/statuses',
      headers: { ...ana.auth, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'status=form+%3C3&visibility=private&media_ids%5B%5D=',
    });
    assert.equal(created.statusCode, 200, created.body);
    assert.equal(created.json().visibility, 'private');
    assert.equal(created.json().kith.visibility, 'followers');
    assert.equal(created.json().content, '<p>form &lt;3</p>');
    const rels = await app.inject({
      url: `/api/v1/accounts/relationships?id%5B%5D=${cy.id}&id[]=${ben.id}&id[]=bad`,
      headers: ana.auth,
    });
    assert.deepEqual(
      rels.json<{ id: string }[]>().map((r) => r.id),
      [cy.id, ben.id],
    );
    const single = await app.inject({
      url: `/api/v1/accounts/relationships?id=${ben.id}`,
      headers: ana.auth,
    });
    assert.equal(single.json().length, 1);
  });

  it('reads multipart bodies (update_credentials) and refuses what kith cannot keep', async () => {
    const [ana] = await m().accounts(1);
    const body = await multipart({ display_name: 'Ana M.', note: 'Hi <there>\n\nsecond' });
    const res = await app.inject({
      method: 'PATCH',
      url: '/api/v1/accounts/update_credentials',
      headers: { ...ana.auth, ...body.headers },
      payload: body.payload,
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().display_name, 'Ana M.');
    assert.equal(res.json().note, '<p>Hi &lt;there&gt;</p><p>second</p>');
    assert.equal(res.json().source.note, 'Hi <there>\n\nsecond');
    const fields = await multipart({ 'fields_attributes[0][name]': 'site' });
    const refused = await app.inject({
      method: 'PATCH',
      url: '/api/v1/accounts/update_credentials',
      headers: { ...ana.auth, ...fields.headers },
      payload: fields.payload,
    });
    assert.equal(refused.statusCode, 422, refused.body);
    const again = await app.inject({
      url: '/api/v1/accounts/verify_credentials',
      headers: ana.auth,
    });
    assert.equal(again.json().display_name, 'Ana M.');
  });

  it('answers CORS preflights and exposes Link', async () => {
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/api/v1/statuses',
      headers: {
        origin: 'https://elk.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,idempotency-key',
      },
    });
    assert.equal(preflight.statusCode, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], '*');
    assert.match(String(preflight.headers['access-control-allow-headers']), /idempotency-key/);
    const [ana] = await m().accounts(1);
    const res = await app.inject({
      url: '/api/v1/timelines/home',
      headers: { ...ana.auth, origin: 'https://elk.example' },
    });
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.match(String(res.headers['access-control-expose-headers']), /Link/);
  });
});
