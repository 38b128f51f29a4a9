import type { FastifyInstance } from 'fastify';

/**
 * Makes every route of `scope` (an encapsulated plugin) parse its body as JSON whatever
 * its `Content-Type`, or without one, as the Go daemon's `json.NewDecoder(r.Body)` did:
 * `curl -d '[...]'` sends `application/x-www-form-urlencoded`. Fastify's own JSON parser
 * does the parsing (prototype-poisoning protection, `http.body_limit_bytes`), so a body
 * that is not JSON is still a 400 with a JSON `error`.
 */
export function parseAnyBodyAsJson(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'string' }, scope.getDefaultJsonParser('error', 'error'));
}
