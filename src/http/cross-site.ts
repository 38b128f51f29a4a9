import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../errors.js';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `Sec-Fetch-Site` values of a request a page of this daemon's own origin (or the user) made. */
const OWN_SITE = new Set(['same-origin', 'none']);

/** Whether the request carries credentials a browser adds by itself (HTTP Basic: it remembers them per origin). */
function hasBrowserCredentials(request: FastifyRequest): boolean {
  const header = request.headers.authorization;
  return typeof header === 'string' && /^basic\s/i.test(header);
}

/** Whether `origin` (`scheme://host[:port]`) names the host this request was sent to. */
function isOwnOrigin(origin: string, host: string | undefined): boolean {
  if (origin === 'null' || host === undefined) return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * Refuses cross-site browser requests that change state: a page on another site can make
 * a browser that holds the UI's Basic credentials send a form or a `no-cors` fetch here.
 * Only requests carrying Basic credentials are concerned (a bearer token is never added by
 * a browser on its own, and requests without credentials get no more than any client):
 * for those, a state-changing method needs `Sec-Fetch-Site` (when sent) to say
 * same-origin, an `Origin` (when sent) naming this host, and a body, if any, sent as JSON
 * (which a cross-site form or simple request cannot do without a CORS preflight, which
 * this daemon never grants).
 */
export function registerCrossSiteGuard(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (!STATE_CHANGING.has(request.method) || !hasBrowserCredentials(request)) return;
    const site = request.headers['sec-fetch-site'];
    if (typeof site === 'string' && !OWN_SITE.has(site.toLowerCase())) throw errors.crossSiteRequest();
    const origin = request.headers.origin;
    if (typeof origin === 'string' && !isOwnOrigin(origin, request.headers.host)) throw errors.crossSiteRequest();
    const hasBody = request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0';
    const type = request.headers['content-type'];
    if (
      (hasBody || request.headers['transfer-encoding'] !== undefined) &&
      !(typeof type === 'string' && /^application\/json\b/i.test(type))
    ) {
      throw errors.unsupportedMediaType();
    }
  });
}
