import type { FastifyInstance } from 'fastify';
import type { Publisher } from '../../publish/index.js';

/** `POST /publish`: the seed's body and reply, plus `total_files` and per-item counts. */
export function registerPublishRoutes(app: FastifyInstance, deps: { publisher: Publisher }): void {
  app.post('/publish', { config: { seedErrorShape: true } }, async (request) => {
    const summary = await deps.publisher.publish(request.body);
    return {
      success: true,
      message: 'file sync tasks published successfully',
      total_files: summary.total_files,
      items: summary.items,
      ...(summary.skipped_count > 0 ? { skipped_count: summary.skipped_count, skipped: summary.skipped } : {}),
    };
  });
}
