import type { Pacing } from './types.js';

interface HttpResponseLike {
  statusCode?: number;
  headers?: Record<string, string | undefined>;
}

type Handler = (args: unknown) => Promise<{ response?: unknown }>;

/** The piece of an SDK command this needs (every `@aws-sdk/client-s3` command fits). */
interface CommandWithStack {
  middlewareStack: { add(middleware: (next: Handler) => Handler, options: Record<string, unknown>): void };
}

function header(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  if (headers === undefined) return undefined;
  const found = Object.keys(headers).find((key) => key.toLowerCase() === name);
  return found === undefined ? undefined : headers[found];
}

/**
 * Paces one SDK command (multipart: create, parts, complete, abort): a middleware placed
 * inside the SDK's retry loop, so every attempt waits for the request rate and any
 * `Retry-After`, and every answer, a throttling one the SDK then retries included, is seen.
 */
export function pacedCommand<C>(command: C, pacing: Pacing | undefined, signal?: AbortSignal): C {
  if (pacing === undefined) return command;
  (command as unknown as CommandWithStack).middlewareStack.add(
    (next) => async (args) => {
      await pacing.request(signal);
      try {
        const output = await next(args);
        const response = output.response as HttpResponseLike | undefined;
        if (typeof response?.statusCode === 'number') pacing.answered({ status: response.statusCode });
        return output;
      } catch (error) {
        const e = error as { name?: string; $metadata?: { httpStatusCode?: number }; $response?: HttpResponseLike };
        const status = e.$response?.statusCode ?? e.$metadata?.httpStatusCode;
        if (typeof status === 'number') pacing.answered({ status, code: e.name, retryAfter: header(e.$response?.headers, 'retry-after') });
        throw error;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'sync4loongPacing' },
  );
  return command;
}
