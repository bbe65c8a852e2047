import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeBackends, safeUrl } from './backends.ts';
import { loadConfig } from '../config.ts';

const SECRET = 'Sup3r-S3cret';
const base = { JWT_SECRET: 'x'.repeat(40), DATA_DIR: '/srv/kith/data' };

describe('describeBackends', () => {
  it('names the embedded defaults, with folders as typed', () => {
    const config = loadConfig({ ...base, DATA_DIR: '/srv/kith/data' });
    assert.deepEqual(describeBackends(config, '/srv/kith'), {
      database: 'PGlite (./data/pglite)',
      cache: 'memory',
      bus: 'in-process',
      mailer: 'files (./data/mail)',
    });
    assert.equal(describeBackends(config, '/elsewhere').database, 'PGlite (/srv/kith/data/pglite)');
  });

  it('names each service by host and port, never with its credentials', () => {
    const config = loadConfig({
      ...base,
      DATABASE_URL: `postgres://kith:${SECRET}@db.internal:5432/kith?sslmode=require&password=${SECRET}`,
      REDIS_URL: `redis://default:${SECRET}@cache.internal:6379/2`,
      AMQP_URL: `amqps://kith:${SECRET}@mq.internal:5671/prod`,
      SMTP_URL: `smtp://mailer:${SECRET}@smtp.example.com:587`,
    });
    const described = describeBackends(config);
    assert.deepEqual(described, {
      database: 'postgres://db.internal:5432/kith',
      cache: 'redis://cache.internal:6379/2',
      bus: 'amqps://mq.internal:5671/prod',
      mailer: 'smtp://smtp.example.com:587',
    });
    assert.ok(!JSON.stringify(described).includes(SECRET));
    assert.ok(!JSON.stringify(described).includes('kith:'), 'no user names either');
  });

  it('safeUrl keeps scheme, host, port and path only', () => {
    assert.equal(safeUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
    assert.equal(safeUrl('amqp://guest:guest@[::1]:5672/'), 'amqp://[::1]:5672');
  });
});
