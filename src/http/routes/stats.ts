import type { FastifyInstance } from 'fastify';
import type { StatsReader } from '../../monitoring/index.js';

/** `GET /stats`: queue counts, last-minute throughput and the last failure, as compact JSON. */
export function registerStatsRoute(
  app: FastifyInstance,
  deps: {
    stats: StatsReader;
    /** More fields for the body (the daemon's role and config status). */
    details?: () => Record<string, unknown>;
  },
): void {
  app.get('/stats', async (_request, reply) =>
    reply.header('cache-control', 'no-store').send({ ...(await deps.stats.read()), ...deps.details?.() }),
  );
}
