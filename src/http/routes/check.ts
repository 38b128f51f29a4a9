import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { ExistenceChecker } from '../../check/index.js';

// Reply schemas: Fastify serialises with them (fast-json-stringify), in the seed's field order.
const answerProperties = {
  exists: { type: 'boolean' },
  cached: { type: 'boolean' },
  timestamp: { type: 'string' },
  size: { type: 'integer' },
  s3_key: { type: 'string' },
  // The Go daemon's name for the key: both are sent, with the same value.
  target_path: { type: 'string' },
} as const;
const answerSchema = { type: 'object', properties: answerProperties } as const;
const batchSchema = {
  type: 'object',
  properties: { results: { type: 'array', items: { type: 'object', properties: { ...answerProperties, error: { type: 'string' } } } } },
} as const;

/**
 * The key in a `/check/{key}` path. The router drops a trailing `/` (`ignoreTrailingSlash`):
 * it is put back, so `/check/store/sub/` is refused as `?key=store/sub/` is, instead of
 * answering for `store/sub`.
 */
const pathKey = (request: FastifyRequest) => {
  const key = (request.params as { '*': string })['*'];
  if (key === '' || key.endsWith('/')) return key;
  const query = request.url.indexOf('?');
  return (query === -1 ? request.url : request.url.slice(0, query)).endsWith('/') ? `${key}/` : key;
};
const queryKey = (request: FastifyRequest) => (request.query as { key?: unknown }).key;

/**
 * `GET /check/{key}`, `GET /check?key=`, `POST /check` (batch), and cache clearing under
 * our names (`DELETE /cache[/{key}]`) and upstream's (`/clear-cache[/{key}]`, DELETE or POST).
 */
export function registerCheckRoutes(app: FastifyInstance, deps: { checker: ExistenceChecker }): void {
  const { checker } = deps;
  // The hot path: no per-request child logger (these handlers never log through
  // `request.log`), and a reply schema for serialisation.
  const hot = { schema: { response: { 200: answerSchema } }, childLoggerFactory: (logger: FastifyBaseLogger) => logger };
  app.get('/check', hot, (request) => checker.check(queryKey(request)));
  // An empty path key (`/check/?key=...`) falls back to the query, as upstream did.
  app.get('/check/*', hot, (request) => checker.check(pathKey(request) || queryKey(request)));
  app.post('/check', { schema: { response: { 200: batchSchema } } }, async (request) => ({
    results: await checker.checkMany(request.body),
  }));

  const clearOne = async (key: unknown) => {
    const removed = await checker.forget(key);
    return { success: true, message: `cache cleared for key: ${String(key)}`, removed };
  };
  const clearAll = async () => ({ success: true, message: 'all cache cleared successfully', removed: await checker.forgetAll() });

  for (const [url, method, seedErrorShape] of [
    ['/cache', ['DELETE'], false],
    ['/clear-cache', ['DELETE', 'POST'], true],
  ] as const) {
    const config = { seedErrorShape };
    app.route({
      method: [...method],
      url,
      config,
      // `DELETE /cache/` (an empty key, as from a client's unset variable) must not
      // clear everything; upstream's `/clear-cache/` did, and still does.
      handler: (request) =>
        queryKey(request) === undefined && (seedErrorShape || !request.url.split('?')[0]!.endsWith('/'))
          ? clearAll()
          : clearOne(queryKey(request)),
    });
    app.route({ method: [...method], url: `${url}/*`, config, handler: (request) => clearOne(pathKey(request) || queryKey(request)) });
  }
}
