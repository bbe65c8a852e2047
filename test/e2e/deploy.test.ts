/**
 * The deployment files agree with the app: compose.yaml, deploy/Dockerfile, deploy/nginx and
 * deploy/k8s parse, give every kith process a configuration `loadConfig` accepts, and use the
 * ports, probes and image the app and CI use. Docker itself cannot run here; nginx and kubectl
 * check what they can when installed.
 */
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return --
   parsed YAML of unknown shape: the assertions are the type checks. */
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import {
  findNginx,
  nginxMainConfig,
  renderTemplate,
  upstreamServers,
} from '../../scripts/cluster.ts';
import { loadConfig, SETTINGS, type Config } from '../../src/config.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const yamlOf = (path: string): any => parseYaml(read(path), { merge: true });
const KNOWN = new Set(Object.values(SETTINGS).map((s) => s.env));
const SECRET = 's'.repeat(48);
const template = read('deploy/nginx/templates/default.conf.template');
/** The template without its comments. */
const directives = template.replace(/#.*$/gm, '');

/** Compose's variable interpolation: ${X}, ${X:-default}, ${X-default}, ${X:?error}, $$. */
function interpolate(value: unknown, vars: Record<string, string>): any {
  if (Array.isArray(value)) return value.map((v) => interpolate(v, vars));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, vars)]));
  if (typeof value !== 'string') return value;
  return value.replace(
    /\$\$|\$\{(\w+)(?:(:?)([-?])([^}]*))?\}/g,
    (match, name?: string, colon?: string, op?: string, arg?: string) => {
      if (match === '$$') return '$';
      const v = vars[name!];
      const missing = v === undefined || (colon === ':' && v === '');
      if (!missing) return v;
      if (op === '?') throw new Error(`compose: ${name}: ${arg}`);
      return op === '-' ? arg! : '';
    },
  );
}

/** Loads the app's configuration from an environment, as each process would. */
function configOf(env: Record<string, unknown>): Config {
  const strings = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
  for (const name of Object.keys(strings)) assert.ok(KNOWN.has(name), `${name} is no kith setting`);
  return loadConfig(strings);
}

const TEMPLATE_VARS = ['KITH_ACCESS_LOG', 'KITH_LISTEN', 'KITH_MEDIA_DIR', 'KITH_UPSTREAM_SERVERS'];

describe('compose.yaml', () => {
  const raw = yamlOf('compose.yaml');
  const compose = interpolate(raw, { JWT_SECRET: SECRET });
  const services = compose.services as Record<string, any>;
  const kith = ['migrate', 'api', 'worker'];

  it('has every service and refuses to start without a JWT secret', () => {
    assert.deepEqual(Object.keys(services).sort(), [
      'api',
      'mailpit',
      'migrate',
      'nginx',
      'postgres',
      'rabbitmq',
      'redis',
      'worker',
    ]);
    assert.throws(() => interpolate(raw, {}), /compose: JWT_SECRET: set JWT_SECRET/);
    assert.equal(services.api.deploy.replicas, 3);
    assert.equal(services.rabbitmq.image, 'rabbitmq:3.13-management');
    assert.ok(existsSync(join(ROOT, services.api.build.context, services.api.build.dockerfile)));
    // One image for every role.
    assert.deepEqual(new Set(kith.map((s) => services[s].image)), new Set(['kith:local']));
  });

  it('gives every kith process a configuration the app accepts, on the compose services', () => {
    const roles = kith.map((s) => configOf(services[s].environment).roles.join(','));
    assert.deepEqual(roles, ['api,worker', 'api', 'worker']);
    assert.deepEqual(services.migrate.command, ['migrate']);
    const config = configOf(services.api.environment);
    assert.equal(config.nodeEnv, 'production');
    const db = new URL(config.databaseUrl!);
    const pgEnv = services.postgres.environment;
    assert.deepEqual(
      [db.hostname, db.username, db.password, db.pathname],
      ['postgres', pgEnv.POSTGRES_USER, pgEnv.POSTGRES_PASSWORD, `/${pgEnv.POSTGRES_DB}`],
    );
    const amqp = new URL(config.amqpUrl!);
    const mqEnv = services.rabbitmq.environment;
    assert.deepEqual(
      [amqp.hostname, amqp.username, amqp.password],
      ['rabbitmq', mqEnv.RABBITMQ_DEFAULT_USER, mqEnv.RABBITMQ_DEFAULT_PASS],
    );
    assert.equal(new URL(config.redisUrl!).hostname, 'redis');
    assert.equal(new URL(config.smtpUrl!).hostname, 'mailpit');
  });

  it('starts in order of health, probes the app’s own ports and paths, keeps data in volumes', () => {
    const api = configOf(services.api.environment);
    const worker = configOf(services.worker.environment);
    assert.deepEqual(services.api.expose, [String(api.port)]);
    assert.deepEqual(services.worker.expose, [String(worker.metricsPort)]);
    assert.deepEqual(services.api.healthcheck.test, [
      'CMD',
      'node',
      'deploy/healthcheck.js',
      '/readyz',
    ]);
    assert.deepEqual(services.worker.healthcheck.test.slice(-1), ['/healthz']);
    for (const name of ['api', 'worker']) {
      const deps = services[name].depends_on;
      assert.equal(deps.migrate.condition, 'service_completed_successfully');
      for (const s of ['postgres', 'redis', 'rabbitmq'])
        assert.equal(deps[s].condition, 'service_healthy', `${name} waits for ${s}`);
    }
    assert.equal(services.nginx.depends_on.api.condition, 'service_healthy');
    for (const [name, service] of Object.entries(services))
      for (const [dep, { condition }] of Object.entries<any>(service.depends_on ?? {}))
        if (condition === 'service_healthy')
          assert.ok(services[dep].healthcheck?.test, `${name} waits for ${dep}'s health check`);
    const volumes = ['postgres', 'redis', 'rabbitmq'].map(
      (s) => services[s].volumes[0].split(':')[0],
    );
    for (const v of volumes) assert.ok(v in compose.volumes, `${v} is a named volume`);
  });

  it('puts nginx on port 80 with the deploy/nginx template, in front of every API replica', () => {
    const nginx = services.nginx;
    const api = configOf(services.api.environment);
    assert.deepEqual(nginx.ports, ['80:80']);
    assert.deepEqual(nginx.volumes, [
      './deploy/nginx/templates:/etc/nginx/templates:ro',
      'kith-data:/data:ro',
    ]);
    // nginx serves the media folder the API replicas write (DATA_DIR/media in their volume).
    assert.equal(nginx.environment.KITH_MEDIA_DIR, '/data/media');
    assert.deepEqual(Object.keys(nginx.environment).sort(), TEMPLATE_VARS);
    assert.equal(nginx.environment.KITH_LISTEN, '80');
    assert.equal(
      nginx.environment.KITH_UPSTREAM_SERVERS,
      `server api:${api.port} max_fails=1 fail_timeout=5s;`,
    );
    // The API trusts X-Forwarded-For from nginx's fixed address only, inside the network.
    const address = nginx.networks.kith.ipv4_address;
    assert.deepEqual(api.trustProxy, [address]);
    const subnet = compose.networks.kith.ipam.config[0].subnet as string;
    assert.ok(address.startsWith(subnet.split('.').slice(0, 3).join('.') + '.'), subnet);
  });
});

describe('deploy/Dockerfile', () => {
  const lines = read('deploy/Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));
  const all = (word: string) => lines.filter((l) => l.startsWith(`${word} `));

  it('builds on Node 24 slim in two stages, production dependencies only, runs as non-root', () => {
    assert.deepEqual(all('ARG'), ['ARG NODE_IMAGE=node:24-slim']);
    assert.deepEqual(all('FROM'), ['FROM ${NODE_IMAGE} AS deps', 'FROM ${NODE_IMAGE} AS runtime']);
    assert.match(all('RUN')[0]!, /npm ci --omit=dev/);
    assert.deepEqual(all('USER'), ['USER node']);
    assert.deepEqual(all('ENTRYPOINT'), ['ENTRYPOINT ["node", "src/main.ts"]']);
    const ignore = read('.dockerignore').split('\n');
    for (const kept of ['!src/', '!deploy/healthcheck.js', '!package-lock.json'])
      assert.ok(ignore.includes(kept), kept);
    assert.ok(ignore.includes('src/**/*.test.ts'));
  });

  it('exposes the default ports and checks health with deploy/healthcheck.js', () => {
    const env = all('ENV').join(' ');
    assert.match(env, new RegExp(`PORT=${SETTINGS.port.default}\\b`));
    assert.match(env, new RegExp(`METRICS_PORT=${SETTINGS.metricsPort.default}\\b`));
    assert.deepEqual(all('EXPOSE'), [
      `EXPOSE ${SETTINGS.port.default} ${SETTINGS.metricsPort.default}`,
    ]);
    assert.match(all('HEALTHCHECK')[0]!, /CMD \["node", "deploy\/healthcheck.js"\]$/);
  });
});

describe('deploy/healthcheck.js', () => {
  /** Runs the health check against a local server answering `status`; returns exit code and path. */
  async function check(status: number, env: Record<string, string>, args: string[] = []) {
    let path = '';
    const server = createServer((req, res) => ((path = req.url!), res.writeHead(status).end()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = String((server.address() as { port: number }).port);
    const vars = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, v.replace('$port', port)]),
    );
    const child = spawn(process.execPath, [join(ROOT, 'deploy/healthcheck.js'), ...args], {
      env: { PATH: process.env.PATH, ...vars },
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    server.close();
    return { code, path };
  }

  it('asks the API port, or the metrics port of a worker alone, and fails on errors', async () => {
    assert.deepEqual(await check(200, { PORT: '$port' }), { code: 0, path: '/healthz' });
    assert.deepEqual(await check(200, { ROLES: 'api', PORT: '$port' }, ['/readyz']), {
      code: 0,
      path: '/readyz',
    });
    assert.deepEqual(await check(503, { PORT: '$port' }, ['/readyz']), {
      code: 1,
      path: '/readyz',
    });
    const worker = { ROLES: 'worker', PORT: '1', METRICS_PORT: '$port' };
    assert.deepEqual(await check(200, worker), { code: 0, path: '/healthz' });
    assert.deepEqual((await check(200, { ROLES: 'worker', METRICS_PORT: '1' })).code, 1);
  });
});

describe('deploy/nginx template', () => {
  const server = directives.slice(directives.indexOf('server {'));
  const stream = server.slice(server.indexOf('location /api/v1/stream {'));

  it('balances by least connections with keep-alive, and retries only idempotent requests', () => {
    assert.deepEqual(
      [...new Set(directives.match(/\$\{KITH_[A-Z_]+\}/g))].map((p) => p.slice(2, -1)).sort(),
      TEMPLATE_VARS,
    );
    const start = directives.indexOf('upstream kith_api {');
    const upstream = directives.slice(start, directives.indexOf('\n}', start));
    assert.match(upstream, /^\s+least_conn;$/m);
    assert.match(upstream, /^\s+keepalive \d+;$/m);
    assert.match(server, /^\s+proxy_next_upstream error timeout http_502 http_503 http_504;$/m);
    assert.doesNotMatch(directives, /non_idempotent/);
  });

  it('forwards the client, the request id and upgrades, limits bodies as the app, keeps streams open', () => {
    for (const header of [
      'proxy_set_header X-Forwarded-For $remote_addr;',
      'proxy_set_header X-Real-IP $remote_addr;',
      'proxy_set_header X-Request-Id $kith_request_id;',
      'proxy_set_header Upgrade $http_upgrade;',
      'proxy_set_header Connection $kith_connection;',
    ])
      assert.ok(server.includes(header), header);
    // The app's bodyLimit is 1 MiB (src/http/app.ts).
    assert.match(server, /^\s+client_max_body_size 1m;$/m);
    assert.match(stream, /^\s+proxy_buffering off;$/m);
    assert.match(stream, /^\s+proxy_read_timeout 1h;$/m);
  });

  it(
    'is a valid nginx configuration once rendered',
    { skip: !findNginx() && 'nginx is not installed' },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'kith-nginx-test-'));
      const site = join(dir, 'kith.conf');
      writeFileSync(
        site,
        renderTemplate(template, {
          KITH_LISTEN: '127.0.0.1:1',
          KITH_UPSTREAM_SERVERS: upstreamServers([
            'http://127.0.0.1:5001',
            'http://127.0.0.1:5002',
          ]),
          KITH_ACCESS_LOG: join(dir, 'access.log'),
          KITH_MEDIA_DIR: join(dir, 'media'),
        }),
      );
      writeFileSync(join(dir, 'nginx.conf'), nginxMainConfig(dir, site));
      const args = ['-t', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'];
      const result = spawnSync(findNginx()!, args, { encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stderr, /test is successful/);
      rmSync(dir, { recursive: true, force: true });
    },
  );
});

/** Every document of a kustomization, following its resources (files and folders). */
function kustomize(dir: string): any[] {
  const k = yamlOf(join(dir, 'kustomization.yaml'));
  return (k.resources as string[]).flatMap((r) => {
    const path = join(dir, r);
    if (statSync(join(ROOT, path)).isDirectory()) return kustomize(path);
    return parseAllDocuments(read(path)).map((d) => d.toJS() as unknown);
  });
}

describe('deploy/k8s', () => {
  const docs = kustomize('deploy/k8s');
  const find = (kind: string, name: string) => {
    const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
    assert.ok(doc, `${kind}/${name}`);
    return doc;
  };
  const kustomization = yamlOf('deploy/k8s/kustomization.yaml');
  const configMap = find('ConfigMap', 'kith-config').data;
  const secret = find('Secret', 'kith-secrets').stringData;
  const api = find('Deployment', 'kith-api');
  const worker = find('Deployment', 'kith-worker');
  const job = find('Job', 'kith-migrate');
  const container = (workload: any) => workload.spec.template.spec.containers[0];
  /** The environment a kith container gets: config map, secret, then its own env. */
  const envOf = (workload: any) => {
    const c = container(workload);
    const env: Record<string, string> = {};
    for (const from of c.envFrom) {
      if (from.configMapRef) Object.assign(env, find('ConfigMap', from.configMapRef.name).data);
      if (from.secretRef) Object.assign(env, find('Secret', from.secretRef.name).stringData);
    }
    for (const e of c.env ?? []) env[e.name] = e.value ?? `pod-${e.valueFrom.fieldRef.fieldPath}`;
    return env;
  };

  it(
    'renders with kubectl kustomize into the same objects',
    {
      skip:
        spawnSync('kubectl', ['version', '--client']).status !== 0 && 'kubectl is not installed',
    },
    () => {
      const out = spawnSync('kubectl', ['kustomize', join(ROOT, 'deploy/k8s')], {
        encoding: 'utf8',
      });
      assert.equal(out.status, 0, out.stderr);
      const rendered: any[] = parseAllDocuments(out.stdout).map((d) => d.toJS());
      const ids = (list: any[]) => list.map((d) => `${d.kind}/${d.metadata.name}`).sort();
      assert.deepEqual(ids(rendered), ids(docs));
      for (const d of rendered.filter((d) => d.kind !== 'Namespace'))
        assert.equal(d.metadata.namespace, 'kith');
      const images = rendered
        .flatMap((d) => d.spec?.template?.spec?.containers ?? [])
        .map((c: any) => c.image);
      const { newName, newTag } = kustomization.images[0];
      assert.equal(images.filter((i: string) => i === `${newName}:${newTag}`).length, 3);
    },
  );

  it('has every part the issue names', () => {
    for (const [kind, name] of [
      ['Namespace', 'kith'],
      ['Service', 'kith-api'],
      ['HorizontalPodAutoscaler', 'kith-api'],
      ['PodDisruptionBudget', 'kith-api'],
      ['Ingress', 'kith-api'],
      ['Ingress', 'kith-stream'],
      ['StatefulSet', 'postgres'],
      ['StatefulSet', 'redis'],
      ['StatefulSet', 'rabbitmq'],
    ])
      find(kind!, name!);
    assert.equal(kustomization.namespace, 'kith');
  });

  it('gives every kith container one image and a configuration the app accepts', () => {
    assert.deepEqual(
      kustomization.images.map((i: any) => i.name),
      ['kith'],
    );
    assert.match(kustomization.images[0].newName, /\/kith$/);
    const configs = [api, worker, job].map((w) => {
      assert.equal(container(w).image, 'kith');
      return configOf(envOf(w));
    });
    assert.deepEqual(
      configs.map((c) => c.roles.join(',')),
      ['api', 'worker', 'api,worker'],
    );
    assert.deepEqual(
      [api, worker, job].map((w) => container(w).args),
      [['serve'], ['serve'], ['migrate']],
    );
    assert.ok(configs.every((c) => c.nodeEnv === 'production' && !c.migrateOnStart));
    assert.ok(secret.JWT_SECRET.length >= 32 && configMap.TRUST_PROXY);
    // The secret's URLs reach the development services with their credentials.
    const dev = find('Secret', 'kith-dev-services').stringData;
    const db = new URL(secret.DATABASE_URL);
    assert.deepEqual([db.username, db.password], [dev.POSTGRES_USER, dev.POSTGRES_PASSWORD]);
    const mq = new URL(secret.AMQP_URL);
    assert.deepEqual(
      [mq.username, mq.password],
      [dev.RABBITMQ_DEFAULT_USER, dev.RABBITMQ_DEFAULT_PASS],
    );
    for (const url of [db, mq, new URL(secret.REDIS_URL)]) {
      const service = find('Service', url.hostname);
      assert.ok(
        service.spec.ports.some((p: any) => p.port === Number(url.port || 6379)),
        url.host,
      );
    }
  });

  it('probes the app’s ports and paths, and gives pods time to drain', () => {
    const apiConfig = configOf(envOf(api));
    const c = container(api);
    assert.deepEqual(c.ports, [{ name: 'http', containerPort: apiConfig.port }]);
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http' });
    assert.deepEqual(c.startupProbe.httpGet, { path: '/healthz', port: 'http' });
    const w = container(worker);
    assert.deepEqual(w.ports, [
      { name: 'metrics', containerPort: configOf(envOf(worker)).metricsPort },
    ]);
    assert.deepEqual(w.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
    for (const x of [c, w]) {
      assert.ok(
        x.resources.requests.cpu && x.resources.requests.memory && x.resources.limits.memory,
      );
      assert.equal(x.securityContext.allowPrivilegeEscalation, false);
    }
    const preStop = Number(c.lifecycle.preStop.exec.command[1]);
    assert.ok(
      api.spec.template.spec.terminationGracePeriodSeconds > preStop + apiConfig.shutdownTimeout,
    );
    assert.equal(api.spec.template.spec.securityContext.runAsNonRoot, true);
  });

  it('wires selectors, the autoscaler, the budget and the ingress to the API pods', () => {
    for (const d of docs.filter((d) => ['Deployment', 'StatefulSet'].includes(d.kind)))
      assert.deepEqual(
        d.spec.selector.matchLabels,
        d.spec.template.metadata.labels,
        d.metadata.name,
      );
    const labels = api.spec.template.metadata.labels;
    const service = find('Service', 'kith-api');
    assert.deepEqual(service.spec.selector, labels);
    assert.deepEqual(find('PodDisruptionBudget', 'kith-api').spec.selector.matchLabels, labels);
    assert.deepEqual(find('HorizontalPodAutoscaler', 'kith-api').spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'kith-api',
    });
    assert.equal(service.spec.ports[0].targetPort, container(api).ports[0].name);
    const ingresses = docs.filter((d) => d.kind === 'Ingress');
    for (const ing of ingresses) {
      assert.equal(ing.spec.ingressClassName, 'nginx');
      const backend = ing.spec.rules[0].http.paths[0].backend.service;
      assert.deepEqual(backend, { name: 'kith-api', port: { name: service.spec.ports[0].name } });
    }
    const stream = find('Ingress', 'kith-stream');
    assert.equal(stream.spec.rules[0].http.paths[0].path, '/api/v1/stream');
    const note = (ing: any, key: string) =>
      ing.metadata.annotations[`nginx.ingress.kubernetes.io/${key}`];
    assert.ok(Number(note(stream, 'proxy-read-timeout')) >= 3600);
    assert.equal(note(stream, 'proxy-buffering'), 'off');
    assert.equal(note(find('Ingress', 'kith-api'), 'proxy-body-size'), '1m');
  });
});

describe('CI workflow', () => {
  const dir = '.github/workflows';
  const workflows = readdirSync(join(ROOT, dir)).map((f) => yamlOf(join(dir, f)));
  const ci = workflows.find((w) => w.jobs?.test && w.jobs?.image);

  it('tests on Postgres, Redis and RabbitMQ containers, then builds and pushes the image from main', () => {
    assert.ok(ci, 'a workflow with test and image jobs');
    const test = ci.jobs.test;
    assert.deepEqual(Object.keys(test.services).sort(), ['postgres', 'rabbitmq', 'redis']);
    assert.ok(test.steps.some((s: any) => s.run === 'bash .ci/run'));
    const build = ci.jobs.image.steps.find((s: any) =>
      s.uses?.startsWith('docker/build-push-action'),
    );
    assert.equal(build.with.file, 'deploy/Dockerfile');
    assert.match(ci.env.IMAGE, /\/kith$/);
    const push = ci.jobs.image.steps.filter((s: any) => /docker push/.test(s.run ?? ''));
    assert.deepEqual(
      push.map((s: any) => s.if),
      ["github.event_name == 'push' && github.ref == 'refs/heads/main'"],
    );
    assert.deepEqual(ci.on.push.branches, ['main']);
    assert.ok(existsSync(join(ROOT, dirname('deploy/Dockerfile'))));
  });
});
