/* global process, fetch, AbortSignal -- run by Node inside the image */
// Container health check of the kith image: GET /healthz (or the path given as the first
// argument, e.g. /readyz) on this process's own port: PORT when it runs the api role,
// METRICS_PORT for a worker alone. Exit 0 when it answers 2xx within 2 s, 1 otherwise.
const env = process.env;
const roles = (env.ROLES || 'api,worker').split(',').map((r) => r.trim());
const port = roles.includes('api') ? env.PORT || '5000' : env.METRICS_PORT || '9464';
const path = process.argv[2] || '/healthz';

fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) }).then(
  (res) => process.exit(res.ok ? 0 : 1),
  () => process.exit(1),
);
