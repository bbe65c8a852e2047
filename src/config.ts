import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

/** Raised when the environment holds a value kith cannot run with; names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Parser<T> = (raw: string, name: string) => T;

interface Setting<T, D extends string | undefined = string | undefined> {
  env: string;
  /** Default as it would be written in the environment; undefined means "not set". */
  default: D;
  description: string;
  parse: Parser<T>;
}

function setting<T, const D extends string | undefined>(
  env: string,
  def: D,
  description: string,
  parse: Parser<T>,
): Setting<T, D> {
  return { env, default: def, description, parse };
}

const text: Parser<string> = (raw) => raw;

function integer(min: number, max: number): Parser<number> {
  return (raw, name) => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || n < min || n > max) {
      throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
    }
    return n;
  };
}

function oneOf<const T extends string>(values: readonly T[]): Parser<T> {
  return (raw, name) => {
    if (!(values as readonly string[]).includes(raw)) {
      throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}"`);
    }
    return raw as T;
  };
}

const boolean: Parser<boolean> = (raw, name) => {
  const v = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
};

function url(protocols: readonly string[]): Parser<string> {
  return (raw, name) => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new ConfigError(`${name} must be a URL (${protocols.join(' or ')}), got "${raw}"`);
    }
    if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
      throw new ConfigError(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
    }
    return raw;
  };
}

const ROLES = ['api', 'worker'] as const;
export type Role = (typeof ROLES)[number];

const roleList: Parser<Role[]> = (raw, name) => {
  const roles = [
    ...new Set(
      raw
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    ),
  ];
  if (roles.length === 0 || roles.some((r) => !(ROLES as readonly string[]).includes(r))) {
    throw new ConfigError(`${name} must list roles among ${ROLES.join(', ')}, got "${raw}"`);
  }
  return roles as Role[];
};

const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * Every environment variable kith reads. This table is the single source for parsing and for
 * the configuration table in docs/CONFIGURATION.md (`npm run kith -- config`,
 * `node scripts/config-docs.ts`).
 */
export const SETTINGS = {
  nodeEnv: setting(
    'NODE_ENV',
    'development',
    '`development`, `production` or `test`. Production requires `JWT_SECRET` and skips automatic migrations.',
    oneOf(['development', 'production', 'test'] as const),
  ),
  host: setting('HOST', '0.0.0.0', 'Interface the HTTP server listens on.', text),
  port: setting('PORT', '5000', 'HTTP port.', integer(0, 65535)),
  nodeName: setting(
    'NODE_NAME',
    undefined,
    'Name of this process in the `X-Kith-Node` response header and the logs. Default: host name and process id.',
    text,
  ),
  dataDir: setting(
    'DATA_DIR',
    './data',
    'Folder for embedded data: the PGlite database (when `DATABASE_URL` is unset) and the development JWT secret.',
    text,
  ),
  databaseUrl: setting(
    'DATABASE_URL',
    undefined,
    'Postgres connection URL (`postgres://user:pass@host:5432/db`). Unset: embedded PGlite under `DATA_DIR/pglite`.',
    url(['postgres', 'postgresql']),
  ),
  databasePoolSize: setting(
    'DATABASE_POOL_SIZE',
    '10',
    'Maximum Postgres connections per process.',
    integer(1, 200),
  ),
  databaseConnectTimeout: setting(
    'DATABASE_CONNECT_TIMEOUT_MS',
    '2000',
    'How long a query waits for a Postgres connection (a new one, or a free one from the pool) before the request answers 503 `service_unavailable`, in milliseconds.',
    integer(100, 600_000),
  ),
  databaseStatementTimeout: setting(
    'DATABASE_STATEMENT_TIMEOUT_MS',
    '10000',
    'Longest a Postgres statement may run (`statement_timeout`); a connection that stays silent 2 s longer is dropped. Either way the request answers 503 `service_unavailable`. 0: no limit. `kith migrate` never has one.',
    integer(0, 3_600_000),
  ),
  databaseMaxWaiting: setting(
    'DATABASE_MAX_WAITING',
    '32',
    'Requests that may wait for a pooled Postgres connection at once. A request that would wait behind more answers 503 `overloaded` with `Retry-After: 1` at once, instead of queueing into a timeout; a home feed with a cached answer serves that. Background work always waits. 0: no bound.',
    integer(0, 100_000),
  ),
  databaseSlowConnections: setting(
    'DATABASE_SLOW_CONNECTIONS',
    '0',
    'Postgres connections that slow reads (home feeds rebuilt from SQL, search) may hold at once, so they never take the whole pool from logins, writes and cached reads; twice as many may wait, more are refused like `DATABASE_MAX_WAITING`. 0: half of `DATABASE_POOL_SIZE`, at least 1.',
    integer(0, 200),
  ),
  databaseRequestTimeout: setting(
    'DATABASE_REQUEST_TIMEOUT_MS',
    '2500',
    'Most time one HTTP request may spend on Postgres in total: waiting for connections and running queries. Past it, the query in progress is abandoned (its connection discarded: it may be silent) and the request answers 503 `service_unavailable` with Retry-After. Streams are exempt once open. 0: no limit.',
    integer(0, 3_600_000),
  ),
  migrateOnStart: setting(
    'MIGRATE_ON_START',
    undefined,
    'Apply pending migrations when the server starts. Default: true, except in production (run `kith migrate` there).',
    boolean,
  ),
  jwtSecret: setting(
    'JWT_SECRET',
    undefined,
    'Secret for signing access tokens (HS256), at least 32 characters. Required in production; in development one is generated once and kept in `DATA_DIR/jwt-secret`.',
    (raw, name) => {
      if (raw.length < 32) throw new ConfigError(`${name} must be at least 32 characters long`);
      return raw;
    },
  ),
  accessTokenTtl: setting(
    'ACCESS_TOKEN_TTL',
    '900',
    'Lifetime of an access token, in seconds.',
    integer(30, 86_400),
  ),
  refreshTokenTtl: setting(
    'REFRESH_TOKEN_TTL',
    '2592000',
    'Lifetime of a refresh token, in seconds (default 30 days).',
    integer(60, 31_536_000),
  ),
  bcryptCost: setting(
    'BCRYPT_COST',
    '10',
    'bcrypt work factor for password hashes (4-15; below 10 only for tests).',
    integer(4, 15),
  ),
  authRateLimitIp: setting(
    'RATE_LIMIT_AUTH_PER_IP',
    '30',
    'Requests to `/auth/register`, `/auth/login` and `/auth/refresh` allowed per client IP per window (one shared budget).',
    integer(1, 1_000_000),
  ),
  authRateLimitAccount: setting(
    'RATE_LIMIT_LOGIN_PER_ACCOUNT',
    '10',
    'Login attempts allowed per account (username or e-mail) per window.',
    integer(1, 1_000_000),
  ),
  authRateLimitWindow: setting(
    'RATE_LIMIT_WINDOW',
    '60',
    'Length of the rate-limit window, in seconds.',
    integer(1, 86_400),
  ),
  trustProxy: setting(
    'TRUST_PROXY',
    '',
    'Comma-separated addresses or CIDR ranges of reverse proxies whose `X-Forwarded-For` is trusted. Empty: trust none.',
    list,
  ),
  logLevel: setting(
    'LOG_LEVEL',
    'info',
    '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.',
    oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
  ),
  roles: setting(
    'ROLES',
    'api,worker',
    'Comma-separated roles this process runs: `api` (HTTP) and/or `worker` (outbox relay and event consumers). Split roles need `DATABASE_URL`, `REDIS_URL` and `AMQP_URL`.',
    roleList,
  ),
  redisUrl: setting(
    'REDIS_URL',
    undefined,
    'Redis URL (`redis://host:6379/0`) for the cache, timelines and rate limits. Unset: in-process memory.',
    url(['redis', 'rediss']),
  ),
  redisPrefix: setting('REDIS_PREFIX', 'kith:', 'Prefix of every Redis key kith writes.', text),
  amqpUrl: setting(
    'AMQP_URL',
    undefined,
    'RabbitMQ URL (`amqp://user:pass@host:5672`) for the event bus. Unset: in-process bus.',
    url(['amqp', 'amqps']),
  ),
  amqpPrefix: setting(
    'AMQP_PREFIX',
    'kith',
    'Prefix of the RabbitMQ exchanges and queues kith declares.',
    (raw, name) => {
      if (!/^[\w.-]{1,64}$/.test(raw))
        throw new ConfigError(`${name} may only hold letters, digits, _ . -`);
      return raw;
    },
  ),
  cacheMaxEntries: setting(
    'CACHE_MAX_ENTRIES',
    '50000',
    'Entries kept by the in-memory cache (when `REDIS_URL` is unset).',
    integer(100, 10_000_000),
  ),
  feedTimelineCap: setting(
    'FEED_TIMELINE_CAP',
    '800',
    'Post ids kept in each home timeline; older pages are read from the database.',
    integer(10, 100_000),
  ),
  feedInactiveDays: setting(
    'FEED_INACTIVE_DAYS',
    '30',
    'Followers without a request for this many days get no fan-out; their timeline is rebuilt when they come back.',
    integer(1, 3650),
  ),
  feedFanoutMaxFollowers: setting(
    'FEED_FANOUT_MAX_FOLLOWERS',
    '10000',
    'Authors with more followers than this are not fanned out: their posts are merged into feeds at read time.',
    integer(0, 1_000_000_000),
  ),
  feedFanoutBatch: setting(
    'FEED_FANOUT_BATCH',
    '1000',
    'Followers whose timelines are updated together by one fan-out step: one follower query and one timeline-store call (one Redis script) per step.',
    integer(1, 100_000),
  ),
  feedFanoutConcurrency: setting(
    'FEED_FANOUT_CONCURRENCY',
    '8',
    'Feed events (posts, deletions, follows) each worker process handles at once: the RabbitMQ prefetch of the feed queue and the bound on its handlers in flight. A handler uses one database connection at a time, so keep it under `DATABASE_POOL_SIZE`.',
    integer(1, 256),
  ),
  dsbCompat: setting(
    'DSB_COMPAT',
    'false',
    "Serve the DeathStarBench social-network routes under `/wrk2-api/` (register, follow, compose, timeline reads), so DSB's wrk2 scripts and graph loader drive kith. They have no authentication: benchmarks only.",
    boolean,
  ),
  publicUrl: setting(
    'PUBLIC_URL',
    undefined,
    'Address at which users reach kith (through its proxy), used for links in e-mails. Default: `http://localhost:PORT`, with the port the server actually bound when `PORT=0`.',
    url(['http', 'https']),
  ),
  appUrl: setting(
    'APP_URL',
    undefined,
    'Address of the app in front of kith. When set, password-reset mails link to `APP_URL/reset-password?token=…`; unset, they give the token and the API call.',
    url(['http', 'https']),
  ),
  smtpUrl: setting(
    'SMTP_URL',
    undefined,
    'SMTP server for mail (`smtp://user:pass@host:587`, `smtps://…:465`). Unset: each mail is written as an `.eml` file under `MAIL_DIR`.',
    url(['smtp', 'smtps']),
  ),
  mailFrom: setting('MAIL_FROM', 'kith <no-reply@kith.localhost>', 'Sender of every mail.', text),
  mailDir: setting(
    'MAIL_DIR',
    undefined,
    'Folder of the `.eml` files written when `SMTP_URL` is unset. Default: `DATA_DIR/mail`.',
    text,
  ),
  mailRateLimit: setting(
    'RATE_LIMIT_MAIL',
    '5',
    'Mails a user can ask for (verification resends; password resets per address) per `RATE_LIMIT_MAIL_WINDOW`.',
    integer(1, 1_000_000),
  ),
  mailRateLimitWindow: setting(
    'RATE_LIMIT_MAIL_WINDOW',
    '3600',
    'Window of `RATE_LIMIT_MAIL`, in seconds.',
    integer(1, 604_800),
  ),
  messageRateLimit: setting(
    'RATE_LIMIT_MESSAGES',
    '60',
    'Direct messages one user may send per `RATE_LIMIT_MESSAGES_WINDOW`, over all their conversations (counted on every API node together when `REDIS_URL` is set).',
    integer(1, 1_000_000),
  ),
  messageRateLimitWindow: setting(
    'RATE_LIMIT_MESSAGES_WINDOW',
    '60',
    'Window of `RATE_LIMIT_MESSAGES`, in seconds.',
    integer(1, 86_400),
  ),
  streamHeartbeatSeconds: setting(
    'STREAM_HEARTBEAT_SECONDS',
    '30',
    'Real-time streams: WebSocket ping / SSE comment interval; dead sockets are dropped after two. Each node also checks its streams against the event log this often.',
    integer(1, 3600),
  ),
  streamRetentionHours: setting(
    'STREAM_RETENTION_HOURS',
    '72',
    'How long stream events are kept for clients to resume; a client further behind gets `resync`.',
    integer(1, 24 * 365),
  ),
  streamsPerUser: setting(
    'STREAMS_PER_USER',
    '16',
    'Real-time streams (WebSocket and SSE together) one user may hold open on one API node; more answer 429 `too_many_streams`. Counted per node: behind a load balancer a user may hold this many on each.',
    integer(1, 10_000),
  ),
  outboxPollMs: setting(
    'OUTBOX_POLL_MS',
    '100',
    'How often the outbox relay looks for unpublished events, in milliseconds.',
    integer(5, 60_000),
  ),
  outboxRetentionHours: setting(
    'OUTBOX_RETENTION_HOURS',
    '24',
    'How long published events (and processed-event marks) are kept before being purged.',
    integer(1, 24 * 365),
  ),
  consumerMaxAttempts: setting(
    'CONSUMER_MAX_ATTEMPTS',
    '10',
    'Deliveries of an event to a consumer before it is dead-lettered.',
    integer(1, 100),
  ),
  consumerRetryDelays: setting(
    'CONSUMER_RETRY_DELAYS_MS',
    '1000,5000,30000,120000,600000',
    'Back-off before each retry of a failed event, in milliseconds; the last value repeats. With the defaults an event survives about an hour of outage (SMTP, Redis) before it is dead-lettered.',
    (raw, name) => {
      const delays = list(raw, name).map((d) => integer(1, 3_600_000)(d, name));
      if (delays.length === 0) throw new ConfigError(`${name} needs at least one delay`);
      return delays;
    },
  ),
  metricsPort: setting(
    'METRICS_PORT',
    '9464',
    'Port of the `/metrics` and `/healthz` endpoints of a process without the api role (a worker alone); an api process serves them on `PORT`.',
    integer(0, 65535),
  ),
  shutdownTimeout: setting(
    'SHUTDOWN_TIMEOUT',
    '10',
    'Seconds to wait for in-flight requests on SIGTERM/SIGINT before exiting anyway.',
    integer(1, 600),
  ),
  shedMaxInFlight: setting(
    'SHED_MAX_IN_FLIGHT',
    '0',
    'Load shedding: requests one process serves at once (streams, `/healthz` and `/metrics` not counted); more answer 503 `overloaded` at once instead of queueing for the database. Bounds latency to about this many divided by the throughput; set it from a measured capacity (a burst of new connections trips a low cap). 0 disables (the default).',
    integer(0, 1_000_000),
  ),
  shedMaxEventLoopDelayMs: setting(
    'SHED_MAX_EVENT_LOOP_DELAY_MS',
    '200',
    'Load shedding: while the event-loop delay over the last two samples (time-weighted: how long work that became ready waited, on average, for the loop to turn to it) is above this many milliseconds, requests answer 503 `overloaded` with `Retry-After`; `/healthz` and `/metrics` still answer. 0 disables.',
    integer(0, 60_000),
  ),
  shedMaxEventLoopUtilization: setting(
    'SHED_MAX_EVENT_LOOP_UTILIZATION',
    '0',
    'Load shedding: also shed while the event loop was busy more than this fraction of the last sample (e.g. `0.98`). 0 disables.',
    (raw, name) => {
      const n = Number(raw);
      if (!/^\d*\.?\d+$/.test(raw.trim()) || n > 1) {
        throw new ConfigError(`${name} must be a number from 0 to 1, got "${raw}"`);
      }
      return n;
    },
  ),
  shedMaxHeapMb: setting(
    'SHED_MAX_HEAP_MB',
    '0',
    'Load shedding: also shed while the JavaScript heap in use is above this many MiB. 0 disables.',
    integer(0, 1_000_000),
  ),
  shedSampleIntervalMs: setting(
    'SHED_SAMPLE_INTERVAL_MS',
    '1000',
    'How often load shedding samples event-loop delay, utilization and heap, in milliseconds: shedding starts and stops one or two of these after the overload does. Shorter reacts faster, but lets one slow operation trip it more easily.',
    integer(10, 60_000),
  ),
  oauthPasswordGrant: setting(
    'OAUTH_PASSWORD_GRANT',
    'false',
    "Accept the OAuth password grant (`grant_type=password` at `/oauth/token`): apps then handle users' passwords themselves. Mastodon has dropped it; some test tools still use it. Login rate limits apply.",
    boolean,
  ),
  accountDeletionGraceDays: setting(
    'ACCOUNT_DELETION_GRACE_DAYS',
    '30',
    'Days between a user deleting their account (it is deactivated at once) and its erasure; logging in before then cancels the deletion. 0 erases at the next housekeeping run.',
    integer(0, 3650),
  ),
  exportLinkTtlHours: setting(
    'EXPORT_LINK_TTL_HOURS',
    '48',
    'How long the mailed link to a data export works; the archive is removed after that.',
    integer(1, 24 * 90),
  ),
  exportMinIntervalHours: setting(
    'EXPORT_MIN_INTERVAL_HOURS',
    '24',
    'A user may request a new data export at most once in this many hours (429 `export_rate_limited`). 0 allows one whenever none is in progress.',
    integer(0, 24 * 365),
  ),
  mediaStorage: setting(
    'MEDIA_STORAGE',
    'disk',
    'Where uploaded pictures are kept: `disk` (under `MEDIA_DIR`, served by kith at `/media/…` or by nginx) or `s3` (any S3-compatible store, see `S3_BUCKET`).',
    oneOf(['disk', 's3'] as const),
  ),
  mediaDir: setting(
    'MEDIA_DIR',
    undefined,
    'Folder of the media files when `MEDIA_STORAGE=disk`. Default: `DATA_DIR/media`.',
    text,
  ),
  mediaPublicUrl: setting(
    'MEDIA_PUBLIC_URL',
    undefined,
    'Base URL of media files in API answers. Default: `PUBLIC_URL/media` on disk, `S3_PUBLIC_URL` (or the endpoint and bucket) on S3.',
    url(['http', 'https']),
  ),
  s3Bucket: setting(
    'S3_BUCKET',
    undefined,
    'Bucket of the media files when `MEDIA_STORAGE=s3`.',
    text,
  ),
  s3Endpoint: setting(
    'S3_ENDPOINT',
    undefined,
    'S3-compatible endpoint (MinIO, Garage, R2…). Unset: AWS for `S3_REGION`.',
    url(['http', 'https']),
  ),
  s3Region: setting('S3_REGION', 'us-east-1', 'Region of the S3 bucket.', text),
  s3ForcePathStyle: setting(
    'S3_FORCE_PATH_STYLE',
    'false',
    'Address the bucket as `endpoint/bucket/key` instead of `bucket.endpoint/key` (most self-hosted stores need true).',
    boolean,
  ),
  s3PublicUrl: setting(
    'S3_PUBLIC_URL',
    undefined,
    'Public base URL of the bucket (a CDN or the bucket website), used for media URLs. Default: `S3_ENDPOINT/S3_BUCKET`.',
    url(['http', 'https']),
  ),
  s3AccessKeyId: setting(
    'S3_ACCESS_KEY_ID',
    undefined,
    'S3 access key. Unset: the AWS SDK default chain (`AWS_ACCESS_KEY_ID`, instance roles…).',
    text,
  ),
  s3SecretAccessKey: setting('S3_SECRET_ACCESS_KEY', undefined, 'S3 secret key.', text),
  mediaMaxBytes: setting(
    'MEDIA_MAX_BYTES',
    '16777216',
    'Largest upload accepted, in bytes (reading stops there: 413 `media_too_large`).',
    integer(1024, 1_073_741_824),
  ),
  mediaMaxPixels: setting(
    'MEDIA_MAX_PIXELS',
    '40000000',
    'Largest picture accepted, in pixels (width × height from the header, checked before decoding: 422 `media_too_many_pixels`).',
    integer(1, 1_000_000_000),
  ),
  mediaMaxPerPost: setting(
    'MEDIA_MAX_PER_POST',
    '4',
    'Pictures one post may carry (`media_ids`).',
    integer(1, 20),
  ),
  mediaOriginalMaxSide: setting(
    'MEDIA_ORIGINAL_MAX_SIDE',
    '2560',
    'The stored original is scaled down to fit this many pixels on its longer side.',
    integer(64, 16_384),
  ),
  mediaPreviewMaxSide: setting(
    'MEDIA_PREVIEW_MAX_SIDE',
    '640',
    'The preview fits this many pixels on its longer side.',
    integer(16, 4096),
  ),
  mediaProcessingConcurrency: setting(
    'MEDIA_PROCESSING_CONCURRENCY',
    '2',
    'Pictures processed at once per process (each on one libvips thread); more wait their turn off the event loop.',
    integer(1, 64),
  ),
  mediaUnattachedTtlMinutes: setting(
    'MEDIA_UNATTACHED_TTL_MINUTES',
    '1440',
    'Uploads not attached to a post (nor used as avatar or header) are removed after this many minutes.',
    integer(1, 525_600),
  ),
} as const;

type Settings = typeof SETTINGS;
type ParsedSettings = {
  [K in keyof Settings]: Settings[K] extends Setting<infer T, infer D>
    ? D extends string
      ? T
      : T | undefined
    : never;
};

export type Config = Readonly<
  Omit<
    ParsedSettings,
    'jwtSecret' | 'migrateOnStart' | 'dataDir' | 'mailDir' | 'nodeName' | 'publicUrl'
  > & {
    nodeName: string;
    /** PUBLIC_URL, or `http://localhost:PORT` when it is unset (see publicUrlFromPort). */
    publicUrl: string;
    /** PUBLIC_URL is unset: the public URL follows the port the api role listens on. */
    publicUrlFromPort: boolean;
    dataDir: string;
    mailDir: string;
    jwtSecret: string;
    migrateOnStart: boolean;
  }
>;

export type Env = Record<string, string | undefined>;

function parseSettings(env: Env): ParsedSettings {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    const raw = env[s.env];
    const value = raw === undefined || raw === '' ? s.default : raw;
    out[key] = value === undefined ? undefined : s.parse(value, s.env);
  }
  return out as ParsedSettings;
}

/** Development secret: generated once, then read back so tokens survive restarts. */
function developmentSecret(dataDir: string): string {
  const file = join(dataDir, 'jwt-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(dataDir, { recursive: true });
    const secret = randomBytes(48).toString('base64url');
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
    return secret;
  }
}

/** The default public URL: this machine, on the port kith listens on. */
export const localUrl = (port: number): string => `http://localhost:${port}`;

/**
 * Reads and validates the environment once. Throws ConfigError naming the variable when a value
 * is unusable. The result is frozen; nothing else in kith reads process.env.
 */
export function loadConfig(env: Env = process.env): Config {
  const s = parseSettings(env);
  const dataDir = resolve(s.dataDir);
  const production = s.nodeEnv === 'production';
  if (production && !s.jwtSecret) {
    throw new ConfigError('JWT_SECRET must be set when NODE_ENV=production (32+ characters)');
  }
  if (production && s.bcryptCost < 10) {
    throw new ConfigError('BCRYPT_COST must be at least 10 when NODE_ENV=production');
  }
  // Roles in separate processes must share their database, bus and timelines.
  if (s.roles.length < ROLES.length) {
    const missing = [
      [s.databaseUrl, 'DATABASE_URL (PGlite is private to one process)'],
      [s.amqpUrl, 'AMQP_URL (the in-process bus cannot reach another process)'],
      [s.redisUrl, 'REDIS_URL (in-memory timelines cannot be shared)'],
    ].flatMap(([value, what]) => (value ? [] : [what]));
    if (missing.length > 0) {
      throw new ConfigError(
        `ROLES=${s.roles.join(',')} runs roles apart, which needs ${missing.join(', ')}`,
      );
    }
  }
  return Object.freeze({
    ...s,
    dataDir,
    nodeName: s.nodeName ?? `${hostname()}-${process.pid}`,
    mailDir: resolve(s.mailDir ?? join(dataDir, 'mail')),
    publicUrl: s.publicUrl ?? localUrl(s.port),
    publicUrlFromPort: s.publicUrl === undefined,
    jwtSecret: s.jwtSecret ?? developmentSecret(dataDir),
    migrateOnStart: s.migrateOnStart ?? !production,
  });
}

/** The configuration table of docs/CONFIGURATION.md, generated from SETTINGS. */
export function settingsMarkdown(): string {
  const rows = Object.values(SETTINGS).map(
    (s: Setting<unknown>) =>
      `| \`${s.env}\` | ${s.default ? `\`${s.default}\`` : '—'} | ${s.description} |`,
  );
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
