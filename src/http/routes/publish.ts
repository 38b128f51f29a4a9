import type { FastifyInstance } from 'fastify';
import { errors } from '../../errors.js';
import { isIdempotencyKey, type IdempotentPublisher } from '../../publish/index.js';
import { parseAnyBodyAsJson } from '../any-content-type.js';

/**
 * `POST /publish`: the seed's body and reply, plus `batch_id`, `total_files`,
 * `present_files` and per-item counts. An `Idempotency-Key` header makes retries safe (same reply, nothing enqueued twice).
 * The body is JSON whatever its `Content-Type` (the Go daemon's rule), hence its own plugin scope.
 */
export function registerPublishRoutes(app: FastifyInstance, deps: { publisher: IdempotentPublisher }): void {
  void app.register(async (scope) => {
    parseAnyBodyAsJson(scope);
    registerPublishRoute(scope, deps);
  });
}

function registerPublishRoute(app: FastifyInstance, deps: { publisher: IdempotentPublisher }): void {
  app.post('/publish', { config: { seedErrorShape: true } }, async (request, reply) => {
    const key = request.headers['idempotency-key'];
    if (key !== undefined && !isIdempotencyKey(key)) throw errors.invalidIdempotencyKey();
    const { summary, replayed } = await deps.publisher.publish(request.body, key);
    if (replayed) void reply.header('idempotent-replayed', 'true');
    return {
      success: true,
      message: 'file sync tasks published successfully',
      batch_id: summary.batch_id,
      total_files: summary.total_files,
      present_files: summary.present_files,
      items: summary.items,
      ...(summary.skipped_count > 0 ? { skipped_count: summary.skipped_count, skipped: summary.skipped } : {}),
    };
  });
}
