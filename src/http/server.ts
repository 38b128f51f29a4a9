import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from '../log/index.js';
import { AppError } from '../errors.js';

export interface HttpServerOptions {
  bodyLimit: number;
  /** `http.header_timeout_seconds`, in ms (default 10 s). */
  headerTimeoutMs?: number;
  /** `http.request_timeout_seconds`, in ms (default 60 s): a body trickled slower than this is cut off with 408. */
  requestTimeoutMs?: number;
}

/** How often Node looks for connections past their header or request timeout. */
const TIMEOUT_CHECK_MS = 1000;

/**
 * The Fastify instance with the one error handler: declared `AppError`s are answered with
 * their status; Fastify's own client errors (bad JSON, wrong content type, body too large)
 * keep their 4xx status; anything else is a 500 whose details stay in the log.
 * Routes that speak the seed's publish format answer `{ success: false, error }`.
 */
export function createHttpServer(deps: { log: Logger }, options: HttpServerOptions): FastifyInstance {
  const requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
  const app = Fastify({
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit,
    requestTimeout: requestTimeoutMs,
    // Node's default check runs every 30 s, which would let a slow client stay that much longer.
    http: { headersTimeout: Math.min(options.headerTimeoutMs ?? 10_000, requestTimeoutMs), connectionsCheckingInterval: TIMEOUT_CHECK_MS },
    // Route matching ignores a trailing slash (`/publish/`), as net/http's mux did not care either.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048 },
    return503OnClosing: true,
  });

  app.setErrorHandler((error: FastifyError | AppError, request, reply) => {
    const seedShape = request.routeOptions.config?.seedErrorShape === true;
    let statusCode: number;
    let body: Record<string, unknown>;
    if (error instanceof AppError) {
      statusCode = error.statusCode;
      body = { error: error.message, ...error.details };
    } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      statusCode = error.statusCode;
      body = { error: clientErrorMessage(error) };
    } else {
      statusCode = 500;
      body = { error: 'internal error' };
      deps.log.error({ err: error, url: request.url, method: request.method }, 'request failed');
    }
    if (seedShape) body = { success: false, ...body };
    void reply.code(statusCode).send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `not found: ${request.method} ${request.url.split('?')[0]}` });
  });

  return app;
}

function clientErrorMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported content type: send JSON with Content-Type: application/json';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'request body too large';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'request body is empty: expected JSON';
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'invalid Content-Length';
    default:
      if (error instanceof SyntaxError || error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return 'request body is not valid JSON';
      return error.message;
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Errors of this route use the seed's `{ success: false, error }` shape. */
    seedErrorShape?: boolean;
  }
}
