import type { PGlite } from '@electric-sql/pglite';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { EventBus } from '../infra/bus/bus.ts';
import { InProcessBus } from '../infra/bus/in-process-bus.ts';
import { RabbitMqBus } from '../infra/bus/rabbitmq-bus.ts';
import type { Cache } from '../infra/cache/cache.ts';
import { MemoryCache } from '../infra/cache/memory-cache.ts';
import { RedisCache } from '../infra/cache/redis-cache.ts';
import { ResilientCache } from '../infra/cache/resilient-cache.ts';
import { migrateToLatest, openDatabase, type Database } from '../infra/db/database.ts';
import { Metrics } from '../infra/metrics.ts';
import { RedisBreaker } from '../infra/redis/breaker.ts';
import { MemoryTimelineStore } from '../infra/timeline/memory-timeline.ts';
import { RedisTimelineStore } from '../infra/timeline/redis-timeline.ts';
import type { TimelineStore } from '../infra/timeline/timeline.ts';
import { createLogger, wantsPretty, type Logger } from '../logger.ts';
import { AccessTokens } from '../modules/accounts/access-tokens.ts';
import { AuthService } from '../modules/accounts/auth.service.ts';
import { PasswordHasher } from '../modules/accounts/passwords.ts';
import { UsersService } from '../modules/accounts/users.service.ts';
import { CommentsService } from '../modules/comments/comments.service.ts';
import type { Consumer } from '../events/consumer.ts';
import { OutboxRelay } from '../events/relay.ts';
import { ActivityTracker } from '../modules/accounts/activity.ts';
import { AccountStatusCache } from '../modules/accounts/account-status.cache.ts';
import { ModerationService } from '../modules/moderation/moderation.service.ts';
import { ReportsService } from '../modules/moderation/reports.service.ts';
import { EmailTokenSigner } from '../modules/accounts/email-tokens.service.ts';
import { EmailService } from '../modules/accounts/email.service.ts';
import type { Mailer } from '../infra/mail/mailer.ts';
import { FileMailer } from '../infra/mail/file-mailer.ts';
import { SmtpMailer } from '../infra/mail/smtp-mailer.ts';
import type { MailLinks } from '../modules/mail/mail.consumer.ts';
import { MessagesService } from '../modules/messages/messages.service.ts';
import { NotificationsService } from '../modules/notifications/notifications.service.ts';
import { StreamHub } from '../modules/realtime/hub.ts';
import { StreamSessions } from '../modules/realtime/stream-sessions.service.ts';
import { StreamPublisher } from '../modules/realtime/publisher.service.ts';
import { StreamLog } from '../modules/realtime/stream-log.repository.ts';
import { purgeIdempotencyKeys } from '../infra/db/idempotency.ts';
import { enabledModules } from './modules.ts';
import { watchProcess } from './gauges.ts';
import { connectRedis } from './redis.ts';
import { FeedRepository } from '../modules/feed/feed.repository.ts';
import { FeedService } from '../modules/feed/feed.service.ts';
import { FeedHydrator } from '../modules/feed/hydrate.ts';
import { PostContentCache } from '../modules/posts/post-content.cache.ts';
import { PostCountersCache } from '../modules/posts/post-counters.cache.ts';
import { LikedCache } from '../modules/posts/liked.cache.ts';
import { MergeSources } from '../modules/feed/merge-sources.ts';
import { PostsRepository } from '../modules/posts/posts.repository.ts';
import { RelationsCache } from '../modules/social/relations.cache.ts';
import { PostsService } from '../modules/posts/posts.service.ts';
import { createSearchServices, type SearchServices } from '../modules/search/search.service.ts';
import { TagsRepository } from '../modules/search/tags.repository.ts';
import { FriendsService } from '../modules/social/friends.service.ts';
import { SocialService } from '../modules/social/social.service.ts';
import { homeTimeline } from '../modules/feed/feed.service.ts';
import type { TokenVerifier } from '../http/auth.ts';
import { OAuthRepository } from '../modules/oauth/oauth.repository.ts';
import { looksLikeOAuthToken, OAuthTokens } from '../modules/oauth/oauth-tokens.ts';
import { OAuthService } from '../modules/oauth/oauth.service.ts';
import { InstanceService } from '../modules/instance/instance.service.ts';
import type { MediaStorage } from '../infra/storage/storage.ts';
import { ImageProcessor } from '../modules/media/image-processor.ts';
import { MediaService } from '../modules/media/media.service.ts';
import { openMediaStorage } from '../modules/media/media.storage.ts';
import { ProfilePicturesService } from '../modules/media/profile-pictures.service.ts';

/** Everything a role needs, built once. Services never build their own dependencies. */
export interface Context {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly database: Database;
  /** Redis connection when REDIS_URL is set (cache, timelines, rate limits). */
  readonly redis: Redis | undefined;
  /** Whether Redis answers: every user of `redis` goes through it (see RedisBreaker). */
  readonly redisBreaker: RedisBreaker | undefined;
  readonly cache: Cache;
  readonly timelines: TimelineStore;
  readonly bus: EventBus;
  readonly mailer: Mailer;
  /** Links in mails; the api role sets `publicUrl` to the bound port when PUBLIC_URL is unset. */
  readonly mailLinks: MailLinks;
  readonly relay: OutboxRelay;
  /** The consumer groups of every enabled module (the worker role runs them). */
  readonly consumers: readonly Consumer[];
  /** Announces real-time events to the streams open on every API node. */
  readonly streams: StreamPublisher;
  readonly emailTokens: EmailTokenSigner;
  readonly accessTokens: AccessTokens;
  readonly users: UsersService;
  readonly auth: AuthService;
  readonly email: EmailService;
  readonly social: SocialService;
  readonly friends: FriendsService;
  readonly posts: PostsService;
  readonly comments: CommentsService;
  readonly feed: FeedService;
  /** Users' cached ties (who they follow, block, mute), shared by every reading module. */
  readonly relations: RelationsCache;
  readonly notifications: NotificationsService;
  readonly messages: MessagesService;
  /** The real-time streams open on this node. */
  readonly hub: StreamHub;
  /** The streams open on this node, of every protocol: caps, suspension, shutdown. */
  readonly streamSessions: StreamSessions;
  readonly activity: ActivityTracker;
  /** Every bearer token the API accepts: kith's own JWTs and OAuth tokens. */
  readonly tokens: TokenVerifier;
  readonly oauthTokens: OAuthTokens;
  readonly oauth: OAuthService;
  readonly instance: InstanceService;
  /** Which accounts are suspended, cached per node and kept current by broadcasts. */
  readonly accountStatus: AccountStatusCache;
  readonly moderation: ModerationService;
  readonly reports: ReportsService;
  /** Where uploaded pictures are kept (disk or S3). */
  readonly mediaStorage: MediaStorage;
  readonly media: MediaService;
  /** Avatars and headers (media rows with a purpose), processed like uploads. */
  readonly profilePictures: ProfilePicturesService;
  /** Search, tags, the public and tag timelines, trends. */
  readonly search: SearchServices;
  /** Closes what the context opened: bus, Redis, then the database. */
  close(): Promise<void>;
}

export interface ContextOverrides {
  /** An already-open PGlite (tests clone a migrated template). */
  pglite?: PGlite;
  log?: Logger;
  /** Apply migrations even when `config.migrateOnStart` is false. */
  migrate?: boolean;
}

/** Outbox claims last this long unless their relay renews them (it does, while it lives). */
const OUTBOX_LEASE_SECONDS = 2;
/** The composition root: the only place that wires adapters to services. */
export async function createContext(
  config: Config,
  overrides: ContextOverrides = {},
): Promise<Context> {
  const log =
    overrides.log ??
    createLogger(config.logLevel, undefined, { pretty: wantsPretty(config.nodeEnv) });
  const metrics = new Metrics();
  const database = await openDatabase(
    {
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.databasePoolSize,
      connectTimeoutMs: config.databaseConnectTimeout,
      statementTimeoutMs: config.databaseStatementTimeout,
      maxWaiting: config.databaseMaxWaiting,
      slowConnections: config.databaseSlowConnections,
    },
    overrides.pglite,
  );
  try {
    if (overrides.migrate ?? config.migrateOnStart) {
      const applied = await migrateToLatest(database.db);
      if (applied.length > 0)
        log.info({ migrations: applied.map((m) => m.migrationName) }, 'migrations applied');
    }
  } catch (err) {
    await database.close();
    throw err;
  }
  const { db } = database;

  const redis = config.redisUrl ? await connectRedis(config.redisUrl, log) : undefined;
  const redisBreaker = redis && new RedisBreaker(redis, log);
  redisBreaker?.onChange((up) => metrics.setServiceUp('redis', up));
  const cache = new ResilientCache(
    redis && redisBreaker
      ? redisBreaker.guard(new RedisCache(redis, `${config.redisPrefix}cache:`))
      : new MemoryCache(config.cacheMaxEntries),
    log,
    metrics,
  );
  const timelines =
    redis && redisBreaker
      ? redisBreaker.guard(new RedisTimelineStore(redis, `${config.redisPrefix}tl:`))
      : new MemoryTimelineStore();
  const bus: EventBus = config.amqpUrl
    ? new RabbitMqBus(config.amqpUrl, { prefix: config.amqpPrefix, logger: log })
    : new InProcessBus({ logger: log });
  const modules = enabledModules(config);
  const publisher = new StreamPublisher(bus, log);
  const relay = new OutboxRelay(db, bus, log, {
    pollMs: config.outboxPollMs,
    batchSize: 100,
    leaseSeconds: OUTBOX_LEASE_SECONDS,
    retentionHours: config.outboxRetentionHours,
    onPublished: () => metrics.outboxPublished.inc(),
    // Each module purges its own expired rows; the idempotency keys are kept as long as events.
    housekeeping: async () => {
      const cutoff = new Date(Date.now() - config.outboxRetentionHours * 3_600_000);
      await purgeIdempotencyKeys(db, cutoff);
      for (const feature of modules) await feature.housekeeping?.(ctx);
    },
  });
  // Whatever failed while the broker was away goes out as soon as it is back.
  if (bus instanceof RabbitMqBus) bus.onConnected(() => relay.wake());
  const monitor = watchProcess(metrics, { database, bus, config, relay });

  const mailer: Mailer = config.smtpUrl
    ? new SmtpMailer(config.smtpUrl, config.mailFrom)
    : new FileMailer(config.mailDir, config.mailFrom, log, config.nodeEnv !== 'production');
  if (!config.smtpUrl && config.nodeEnv === 'production') {
    log.warn({ dir: config.mailDir }, 'SMTP_URL is not set: mail is written to files, not sent');
  }
  const signer = new EmailTokenSigner(config.jwtSecret);
  const mailLinks: MailLinks = { publicUrl: config.publicUrl, appUrl: config.appUrl };

  const hasher = new PasswordHasher(config.bcryptCost);
  const accessTokens = new AccessTokens(config.jwtSecret, config.accessTokenTtl);
  const accountStatus = new AccountStatusCache(db);
  const hub = new StreamHub(new StreamLog(db), log);
  const streamSessions = new StreamSessions(hub, accountStatus, config.streamsPerUser);
  const users = new UsersService(db, hasher, cache, accountStatus);
  // After a graph change a home timeline may lack a new followee's posts until the feed
  // consumer merges them: readers then continue past its end from SQL, so they show at once.
  const relations = new RelationsCache(db, cache, (ids) =>
    Promise.all(ids.map((id) => timelines.markIncomplete(homeTimeline(id))))
      .then(() => {})
      .catch((err: unknown) => {
        log.warn({ err }, 'could not mark home timelines incomplete after a graph change');
      }),
  );
  const contents = new PostContentCache(db, cache);
  const counters = new PostCountersCache(db, cache);
  const liked = new LikedCache(db, cache);
  const feedRepo = new FeedRepository(db);
  const sources = new MergeSources(timelines, feedRepo, log, config.feedTimelineCap);
  // While Redis was away, posts written meanwhile were not listed as pending: resync first.
  redisBreaker?.onChange(() => sources.distrust());
  const oauthTokens = new OAuthTokens(new OAuthRepository(db), bus, log);
  const posts = new PostsService(db, users, contents, {
    fanoutMaxFollowers: config.feedFanoutMaxFollowers,
    counters,
    liked,
    onCreated: (postId, authorId) => sources.added(postId, authorId),
    maxMediaPerPost: config.mediaMaxPerPost,
  });
  const comments = new CommentsService(db, counters);
  const moderation = new ModerationService({
    db,
    bus,
    status: accountStatus,
    posts,
    comments,
    log,
  });
  const mediaStorage = openMediaStorage(config);
  // One processor, so uploads, avatars and headers share the same concurrency bound.
  const imageProcessor = new ImageProcessor({
    maxPixels: config.mediaMaxPixels,
    originalMaxSide: config.mediaOriginalMaxSide,
    previewMaxSide: config.mediaPreviewMaxSide,
    concurrency: config.mediaProcessingConcurrency,
  });
  const ctx: Context = {
    config,
    log,
    metrics,
    database,
    redis,
    redisBreaker,
    cache,
    timelines,
    bus,
    mailer,
    mailLinks,
    relay,
    consumers: [],
    streams: publisher,
    emailTokens: signer,
    accessTokens,
    users,
    auth: new AuthService(db, hasher, accessTokens, config.refreshTokenTtl, (userId) =>
      accountStatus.announce(bus, { user_id: userId, suspended: false }).catch((err: unknown) => {
        log.warn({ err, user_id: userId }, 'account status broadcast failed');
      }),
    ),
    email: new EmailService(db, hasher, signer),
    social: new SocialService(db, users, relations),
    friends: new FriendsService(db, users, relations),
    posts,
    comments,
    relations,
    feed: new FeedService({
      timelines,
      repo: feedRepo,
      relations,
      hydrator: new FeedHydrator({
        contents,
        counters,
        liked,
        users,
        posts: new PostsRepository(db),
        alsoInFeed: (viewer, ids) => new TagsRepository(db).followedTagPosts(viewer, ids),
      }),
      sources,
      slow: database.slow,
      metrics,
      log,
      cap: config.feedTimelineCap,
    }),
    activity: new ActivityTracker(db),
    accountStatus,
    moderation,
    reports: new ReportsService(db, moderation),
    mediaStorage,
    media: new MediaService(db, mediaStorage, imageProcessor, (postId) =>
      contents.invalidate(postId),
    ),
    profilePictures: new ProfilePicturesService(db, mediaStorage, imageProcessor, (id) =>
      users.forget(id),
    ),
    search: createSearchServices(db, cache, database.slow),
    notifications: new NotificationsService(db),
    messages: new MessagesService(db, users, publisher),
    hub,
    streamSessions,
    tokens: {
      verify: (token) =>
        looksLikeOAuthToken(token) ? oauthTokens.verify(token) : accessTokens.verify(token),
    },
    oauthTokens,
    oauth: new OAuthService(db, oauthTokens),
    instance: new InstanceService(db),
    close: async () => {
      monitor.stop();
      streamSessions.stop();
      await bus.close();
      await mailer.close();
      redisBreaker?.stop();
      redis?.disconnect();
      await database.close();
    },
  };
  // Built last: a module's consumers are made from the services above.
  (ctx as { consumers: readonly Consumer[] }).consumers = modules.flatMap(
    (feature) => feature.consumers?.(ctx) ?? [],
  );
  return ctx;
}
