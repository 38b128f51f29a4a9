import type { FastifyInstance } from 'fastify';
import type { PostSync } from '../../hooks/index.js';

/** `GET /hooks/runs`: the post-sync command's last runs (newest first) and what is pending. */
export function registerHooksRoutes(app: FastifyInstance, deps: { hooks: Pick<PostSync, 'report'> }): void {
  app.get('/hooks/runs', async () => deps.hooks.report());
}
