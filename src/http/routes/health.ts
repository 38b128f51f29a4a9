import type { FastifyInstance } from 'fastify';

export interface ReadinessProbe {
  /** Name of the dependency (`redis`, `storage`). */
  name: string;
  check(): Promise<void>;
}

/** `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer). */
export function registerHealthRoutes(app: FastifyInstance, deps: { probes: ReadinessProbe[] }): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, string> = {};
    await Promise.all(
      deps.probes.map(async (probe) => {
        try {
          await withTimeout(probe.check(), 3000);
          checks[probe.name] = 'ok';
        } catch (error) {
          checks[probe.name] = `unavailable: ${(error as Error).name === 'TimeoutError' ? 'timed out' : (error as Error).message}`;
        }
      }),
    );
    const ready = Object.values(checks).every((value) => value === 'ok');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks });
  });
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { name: 'TimeoutError' })), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
