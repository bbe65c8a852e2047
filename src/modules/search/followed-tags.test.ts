import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { drain } from '../../../test/support/drain.ts';
import type { Account } from '../../../test/support/factories.ts';
import { api, type Page } from '../../../test/support/api.ts';

const { app, ctx, worker } = await createTestAppWithWorker('followed-tags');
after(() => worker.stop());
const { call, ok, users, post, mute, block } = api(app);

const feed = async (who: Account) =>
  (await ok<Page<{ id: string }>>(call('GET', '/feed?limit=100', who))).items.map((p) => p.id);

describe('followed tags in the home feed', () => {
  it('brings public posts with the tag from people not followed, and stops on unfollow', async () => {
    const { reader, author, muted, blocked } = await users('reader', 'author', 'muted', 'blocked');
    const tag = `ft${reader.id.slice(-8)}`;
    await ok(call('POST', `/tags/${tag}/follow`, reader));
    await mute(reader, muted);
    await block(reader, blocked);
    assert.deepEqual(await feed(reader), []); // the home timeline now exists
    const tagged = (await post(author, { text: `news #${tag.toUpperCase()}` })).id;
    await post(author, { text: 'untagged' });
    await post(author, { text: `#${tag} for followers`, visibility: 'followers' });
    await post(muted, { text: `#${tag} muted` });
    await post(blocked, { text: `#${tag} blocked` });
    await drain(ctx);
    assert.deepEqual(await feed(reader), [tagged]);

    // An edit that adds the tag brings the post too.
    const later = (await post(author, { text: 'no tag yet' })).id;
    await ok(call('PATCH', `/posts/${later}`, author, { text: `now #${tag}` }));
    await drain(ctx);
    assert.deepEqual(await feed(reader), [later, tagged]);

    await ok(call('DELETE', `/tags/${tag}/follow`, reader));
    assert.deepEqual(await feed(reader), []);
  });
});
