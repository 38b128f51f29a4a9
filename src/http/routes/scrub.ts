import type { FastifyInstance } from 'fastify';
import { errors } from '../../errors.js';
import type { Scrubber } from '../../scrub/index.js';

/** Redis failures answer 503, never a 500. */
async function fromRedis<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (error) {
    if ((error as { name?: string }).name === 'AppError') throw error;
    throw errors.queueUnavailable();
  }
}

/**
 * `POST /scrub`: starts a scrub (body `{prefix?, hashes?, repair?, from?, delete_orphans?}`),
 * 202 with `scrub_id`; 409 with the running one's id. `GET /scrubs/{id}`: its status,
 * progress and, once over, its result. Both need a token when tokens are set (a scrub can
 * delete objects), even with `http.public_check`.
 */
export function registerScrubRoutes(app: FastifyInstance, deps: { scrubber: Scrubber }): void {
  app.post('/scrub', async (request, reply) => {
    const id = await fromRedis(deps.scrubber.start(request.body));
    return reply.code(202).send({ scrub_id: id, status_url: `/scrubs/${id}` });
  });
  app.get('/scrubs/:id', async (request) => {
    const { id } = request.params as { id: string };
    const status = await fromRedis(deps.scrubber.status(id));
    if (status === undefined) throw errors.scrubNotFound(id);
    return status;
  });
}
