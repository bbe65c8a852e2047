import type { FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import { publicOrigin } from '../../http/public-origin.ts';
import type { App } from '../../http/types.ts';
import { BIO_MAX, DISPLAY_NAME_MAX } from '../accounts/users.service.ts';
import { POST_MAX } from '../posts/posts.service.ts';
import { KITH_VERSION, MASTODON_VERSION } from './instance.service.ts';

const tags = ['instance'];
const NODEINFO_SCHEMA = 'http://nodeinfo.diaspora.software/ns/schema/2.0';
/** A transparent pixel: clients (Elk) expect a thumbnail URL and kith has no artwork. */
const THUMBNAIL =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';
const DESCRIPTION =
  'kith: friends, follows, posts, comments, likes, feeds, real-time notifications and messages.';

/** The limits clients check before posting: kith's own, in Mastodon's terms. */
const limits = {
  accounts: {
    max_featured_tags: 0,
    max_pinned_statuses: 0,
    max_display_name_length: DISPLAY_NAME_MAX,
    max_note_length: BIO_MAX,
    max_profile_fields: 0,
  },
  statuses: { max_characters: POST_MAX, max_media_attachments: 0, characters_reserved_per_url: 23 },
  media_attachments: {
    supported_mime_types: [],
    description_limit: 0,
    image_size_limit: 0,
    image_matrix_limit: 0,
    video_size_limit: 0,
    video_frame_rate_limit: 0,
    video_matrix_limit: 0,
  },
  polls: {
    max_options: 0,
    max_characters_per_option: 0,
    min_expiration: 300,
    max_expiration: 2_629_746,
  },
};

/** The address in MAIL_FROM (`kith <no-reply@host>` → `no-reply@host`). */
const contactEmail = (mailFrom: string) => /<([^>]+)>/.exec(mailFrom)?.[1] ?? mailFrom;

/** Discovery: `/api/v1/instance`, `/api/v2/instance`, NodeInfo 2.0. */
export function instanceRoutes(ctx: Context) {
  const { config } = ctx;
  const where = (request: FastifyRequest) => {
    const origin = publicOrigin(config, request);
    return { origin, domain: new URL(origin).host, streaming: origin.replace(/^http/, 'ws') };
  };

  return async (app: App) => {
    app.get(
      '/api/v2/instance',
      { schema: { tags, summary: 'This server, for Mastodon clients (v2)', hide: true } },
      async (request) => {
        const { origin, domain, streaming } = where(request);
        const counts = await ctx.instance.counts();
        return {
          domain,
          title: 'kith',
          version: MASTODON_VERSION,
          // kith has no public source address yet: its API guide stands in.
          source_url: `${origin}/docs`,
          description: DESCRIPTION,
          usage: { users: { active_month: counts.activeMonth } },
          thumbnail: { url: THUMBNAIL, blurhash: null, versions: {} },
          icon: [],
          languages: ['en'],
          configuration: {
            urls: {
              streaming,
              status: null,
              about: null,
              privacy_policy: null,
              terms_of_service: null,
            },
            vapid: { public_key: '' },
            ...limits,
            translation: { enabled: false },
          },
          registrations: {
            enabled: true,
            approval_required: false,
            reason_required: false,
            message: null,
            min_age: 13,
            url: null,
          },
          api_versions: { mastodon: 1, kith: 1 },
          contact: { email: contactEmail(config.mailFrom), account: null },
          rules: [],
        };
      },
    );

    app.get(
      '/api/v1/instance',
      { schema: { tags, summary: 'This server, for Mastodon clients (v1)', hide: true } },
      async (request) => {
        const { domain, streaming } = where(request);
        const counts = await ctx.instance.counts();
        return {
          uri: domain,
          title: 'kith',
          short_description: DESCRIPTION,
          description: DESCRIPTION,
          email: contactEmail(config.mailFrom),
          version: MASTODON_VERSION,
          urls: { streaming_api: streaming },
          stats: { user_count: counts.users, status_count: counts.posts, domain_count: 0 },
          thumbnail: THUMBNAIL,
          languages: ['en'],
          registrations: true,
          approval_required: false,
          invites_enabled: false,
          configuration: limits,
          contact_account: null,
          rules: [],
        };
      },
    );

    app.get(
      '/.well-known/nodeinfo',
      { schema: { tags, summary: 'Where the NodeInfo document is', hide: true } },
      async (request) => ({
        links: [{ rel: NODEINFO_SCHEMA, href: `${where(request).origin}/nodeinfo/2.0` }],
      }),
    );

    app.get(
      '/nodeinfo/2.0',
      { schema: { tags, summary: 'NodeInfo 2.0', hide: true } },
      async () => {
        const counts = await ctx.instance.counts();
        return {
          version: '2.0',
          software: { name: 'kith', version: KITH_VERSION },
          protocols: [],
          services: { inbound: [], outbound: [] },
          usage: {
            users: {
              total: counts.users,
              activeMonth: counts.activeMonth,
              activeHalfyear: counts.activeHalfyear,
            },
            localPosts: counts.posts,
          },
          openRegistrations: true,
          // megalodon's detector only knows Mastodon-like names; this says which API kith serves.
          metadata: { nodeName: 'kith', upstream: { name: 'mastodon', version: '4.2.0' } },
        };
      },
    );
  };
}
