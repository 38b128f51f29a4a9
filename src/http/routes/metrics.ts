import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/** `GET /metrics`: the daemon's registry in Prometheus text format. */
export function registerMetricsRoute(app: FastifyInstance, deps: { registry: Pick<Registry, 'metrics' | 'contentType'> }): void {
  app.get('/metrics', async (_request, reply) => {
    const body = await deps.registry.metrics();
    return reply.header('cache-control', 'no-store').type(deps.registry.contentType).send(body);
  });
}
