import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface AuthOptions {
  /** Current tokens (a function, so a reloaded config takes effect at once). Empty: no auth. */
  tokens: () => readonly string[];
  /** Paths answered without a token (health checks). */
  publicPaths: readonly string[];
  /** Whether `/check` answers without a token. */
  publicCheck: () => boolean;
  /** Path prefix of the browser UI: answered with a Basic challenge so browsers prompt. */
  uiPrefix?: string | undefined;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Whether `presented` equals one of `tokens`. Both sides are hashed to equal length and
 * every token is compared, so neither the length nor the position of a match leaks
 * through timing.
 */
export function tokenMatches(presented: string, tokens: readonly string[]): boolean {
  const candidate = digest(presented);
  let match = false;
  for (const token of tokens) match = timingSafeEqual(candidate, digest(token)) || match;
  return match;
}

/** The token a request presents: `Bearer <token>`, or HTTP Basic with the token as password. */
export function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const [scheme, value] = header.split(/\s+/, 2);
  if (value === undefined) return undefined;
  if (scheme?.toLowerCase() === 'bearer') return value;
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}

/** Whether the request presents one of `tokens`, or none are configured. */
export function isAuthorized(request: FastifyRequest, tokens: readonly string[]): boolean {
  if (tokens.length === 0) return true;
  const token = presentedToken(request);
  return token !== undefined && tokenMatches(token, tokens);
}

/** Requires a token on every route except the public ones, when tokens are configured. */
export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  app.addHook('onRequest', async (request, reply) => {
    const tokens = options.tokens();
    if (tokens.length === 0) return;
    const path = request.url.split('?', 1)[0] ?? '';
    if (options.publicPaths.includes(path)) return;
    if (options.publicCheck() && (path === '/check' || path.startsWith('/check/'))) return;
    const token = presentedToken(request);
    if (token !== undefined && tokenMatches(token, tokens)) return;
    const ui = options.uiPrefix !== undefined && (path === options.uiPrefix || path.startsWith(`${options.uiPrefix}/`));
    void reply
      .code(401)
      .header('www-authenticate', ui ? 'Basic realm="sync4loong", charset="UTF-8"' : 'Bearer realm="sync4loong"')
      .send({ error: token === undefined ? 'authentication required: send Authorization: Bearer <token>' : 'invalid token' });
    return reply;
  });
}
