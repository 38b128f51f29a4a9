/**
 * The queue web UI (asynqmon's role): bull-board mounted under `asynqmon.root_path`.
 * bull-board renders the page and its JSON API; this module decides where it lives, which
 * queues it shows, and enforces read-only mode.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import { errors } from '../errors.js';
import { readSetting, type Setting } from '../setting.js';

export interface QueueUiOptions {
  /** URL path of the UI (`asynqmon.root_path`), for example `/monitoring`. */
  rootPath: string;
  /**
   * `asynqmon.read_only_mode`: hide every write action and refuse every write request.
   * Read on every request, so a reloaded config switches it at once.
   */
  readOnly: Setting<boolean>;
}

export interface QueueUiDeps {
  /** Every queue of the daemon, in display order. */
  queues: readonly Queue[];
  /**
   * Hooks run before anything else under `rootPath` (page, static files and API alike):
   * where authentication puts itself in front of the UI.
   */
  guards?: readonly onRequestHookHandler[];
}

/** Methods that only read: everything else is a write action of the UI's API. */
const READ_METHODS = new Set(['GET', 'HEAD']);

/** The mount prefix: `/monitoring/` and `/monitoring` mount at `/monitoring`, `/` at the root. */
export function uiPrefix(rootPath: string): string {
  return rootPath.replace(/\/+$/, '');
}

/** Mounts the UI (page, static assets, JSON API) under `options.rootPath`. */
export function registerQueueUi(app: FastifyInstance, deps: QueueUiDeps, options: QueueUiOptions): void {
  const prefix = uiPrefix(options.rootPath);
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(prefix === '' ? '/' : prefix);
  // readOnlyMode hides the buttons and makes bull-board answer 405 to per-queue actions;
  // the hook below also refuses the board-wide ones (pause all, resume all).
  const adapters = (readOnlyMode: boolean) => deps.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode }));
  let boardReadOnly = readSetting(options.readOnly);
  const board = createBullBoard({
    queues: adapters(boardReadOnly),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'sync4loong', hideDocsLink: true } },
  });

  void app.register(
    async (scope) => {
      for (const guard of deps.guards ?? []) scope.addHook('onRequest', guard);
      scope.addHook('onRequest', async (request, reply) => {
        const readOnly = readSetting(options.readOnly);
        if (readOnly !== boardReadOnly) {
          // bull-board reads each adapter's mode per request and the page asks for it on
          // every poll: swapping the adapters shows or hides the buttons without a restart.
          board.replaceQueues(adapters(readOnly));
          boardReadOnly = readOnly;
        }
        // Enforced here, before bull-board sees the request, so no write route of any
        // bull-board version can slip through: reads only, whatever the path.
        if (!readOnly || READ_METHODS.has(request.method)) return;
        const refusal = errors.readOnlyMode();
        return reply.code(refusal.statusCode).send({ error: refusal.message });
      });
      await scope.register(serverAdapter.registerPlugin());
    },
    { prefix },
  );
}
