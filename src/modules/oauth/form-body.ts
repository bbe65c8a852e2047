import type { FastifyInstance } from 'fastify';
import qs from 'qs';

/**
 * Accepts urlencoded bodies (what browsers post and Phanpy sends) in this plugin, with Rails
 * bracket keys (`redirect_uris[]=a`) read as arrays. Kept to the plugin: kith's own routes
 * stay JSON only.
 */
export function acceptFormBodies(app: FastifyInstance): void {
  if (app.hasContentTypeParser('application/x-www-form-urlencoded')) return;
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 64 * 1024 },
    (_request, body, done) => {
      done(null, qs.parse(body as string, { depth: 2, arrayLimit: 20, parameterLimit: 100 }));
    },
  );
}
