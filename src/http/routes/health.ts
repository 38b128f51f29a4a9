import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TimeoutError, withTimeout } from '../../timeout.js';

export interface ReadinessProbe {
  /** Name of the dependency (`redis`, `storage`). */
  name: string;
  /** Resolves when the dependency answers; `signal` aborts when the probe has taken too long. */
  check(signal: AbortSignal): Promise<void>;
}

/** A probe answers within this time or counts as failed: readiness must never hang. */
const PROBE_TIMEOUT_MS = 3000;

/**
 * `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer: 200, or
 * 503 naming each dependency that failed and why). Probes run in parallel.
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  deps: {
    probes: ReadinessProbe[];
    /** More fields for the `/readyz` body (the daemon's role and config status), for authorized requests only. */
    details?: () => Record<string, unknown>;
    /**
     * Whether the request may see the reasons and details (a valid token, or no tokens
     * configured). Others learn only ready or not, and which dependency failed: the route
     * is public, and the config's path, load time and hash are not for everyone.
     */
    authorized?: (request: FastifyRequest) => boolean;
  },
): void {
  app.get('/healthz', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    const checks: Record<string, string> = {};
    await Promise.all(
      deps.probes.map(async (probe) => {
        const controller = new AbortController();
        try {
          await withTimeout(probe.check(controller.signal), PROBE_TIMEOUT_MS);
          checks[probe.name] = 'ok';
        } catch (error) {
          controller.abort();
          checks[probe.name] = `unavailable: ${error instanceof TimeoutError ? 'timed out' : describeFailure(error)}`;
        }
      }),
    );
    const failed = deps.probes.map((probe) => probe.name).filter((name) => checks[name] !== 'ok');
    return reply
      .code(failed.length === 0 ? 200 : 503)
      .header('cache-control', 'no-store')
      .send(
        (deps.authorized?.(request) ?? true)
          ? { status: failed.length === 0 ? 'ready' : 'unavailable', checks, ...(failed.length > 0 ? { failed } : {}), ...deps.details?.() }
          : { status: failed.length === 0 ? 'ready' : 'unavailable', ...(failed.length > 0 ? { failed } : {}) },
      );
  });
}

/** A short reason: the error message, or for SDK errors without one (a bare 403/404), its name and status. */
function describeFailure(error: unknown): string {
  const e = error as { message?: string; name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  const message = e.message !== undefined && e.message !== '' && e.message !== 'UnknownError' ? e.message : (e.name ?? 'error');
  return status !== undefined ? `${message} (HTTP ${status})` : message;
}
