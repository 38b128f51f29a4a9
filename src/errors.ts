/**
 * Every error the HTTP API can answer with, declared once: a code, an HTTP status and a
 * message. Domain code throws these; the one error handler in `http/` renders them as
 * `{ "success": false, "error": message }` (publish) or `{ "error": message }`.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    /** Extra fields merged into the JSON reply (for example `allowed_prefixes`). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

type Factory<A extends unknown[]> = (...args: A) => AppError;

function declare<A extends unknown[]>(code: string, statusCode: number, message: (...args: A) => string): Factory<A> {
  return (...args: A) => new AppError(code, statusCode, message(...args));
}

export const errors = {
  badRequest: declare('BAD_REQUEST', 400, (message: string) => message),
  invalidItem: declare('INVALID_ITEM', 400, (message: string) => message),
  directoryEmpty: declare('DIRECTORY_EMPTY', 400, (path: string) => `directory is empty: ${path}`),
  sourceNotFound: declare('SOURCE_NOT_FOUND', 400, (path: string, index: number) => `source path does not exist: ${path} (item ${index})`),
  tooManyItems: declare('TOO_MANY_ITEMS', 400, (max: number) => `too many items: at most ${max} per request`),
  sourceNotAllowed: declare(
    'SOURCE_NOT_ALLOWED',
    403,
    (path: string, index: number) => `'from' is outside the allowed roots for item ${index}: ${path}`,
  ),
  notFound: declare('NOT_FOUND', 404, (what: string) => `not found: ${what}`),
  invalidBatchId: declare('INVALID_BATCH_ID', 400, () => 'invalid batch id: expected the batch_id a publish answered (a UUID)'),
  batchNotFound: declare('BATCH_NOT_FOUND', 404, (id: string) => `batch not found: ${id} (unknown, or expired)`),
  invalidIdempotencyKey: declare('INVALID_IDEMPOTENCY_KEY', 400, () => 'Idempotency-Key must be 1-200 printable ASCII characters'),
  idempotencyKeyReused: declare(
    'IDEMPOTENCY_KEY_REUSED',
    409,
    () => 'Idempotency-Key was already used with a different request body: use a new key for a new request',
  ),
  idempotencyInProgress: declare(
    'IDEMPOTENCY_IN_PROGRESS',
    409,
    () => 'a request with this Idempotency-Key is still being processed: retry once it has finished',
  ),
  unsupportedMediaType: declare('UNSUPPORTED_MEDIA_TYPE', 415, () => 'request body must be JSON (Content-Type: application/json)'),
  bodyTooLarge: declare('BODY_TOO_LARGE', 413, (limit: number) => `request body larger than ${limit} bytes`),
  queueUnavailable: declare('QUEUE_UNAVAILABLE', 503, () => 'queue unavailable: Redis is not reachable, try again later'),
  readOnlyMode: declare('READ_ONLY_MODE', 403, () => 'the queue UI is read-only (asynqmon.read_only_mode): write actions are refused'),
  storageUnavailable: declare('STORAGE_UNAVAILABLE', 503, (detail: string) => `storage unavailable: ${detail}`),
  invalidKey: declare('INVALID_KEY', 400, (problem: string) => problem),
  keyNotAllowed: (allowedPrefixes: readonly string[]) =>
    new AppError('KEY_NOT_ALLOWED', 400, 'key not allowed: must start with allowed prefix', { allowed_prefixes: [...allowedPrefixes] }),
  tooManyKeys: declare('TOO_MANY_KEYS', 400, (max: number) => `too many keys: at most ${max} per request`),
  crossSiteRequest: declare(
    'CROSS_SITE_REQUEST',
    403,
    () => "cross-site request refused: a browser on another site may not change state with this daemon's credentials",
  ),
  tooManyEventStreams: declare('TOO_MANY_EVENT_STREAMS', 429, (max: number) => `too many open event streams (at most ${max}): retry later`),
  // ---- scrub (issue 20.1): errors ----
  scrubRunning: (id: string) =>
    new AppError('SCRUB_RUNNING', 409, `a scrub is already running on this Redis prefix: ${id}`, { scrub_id: id }),
  invalidScrubId: declare('INVALID_SCRUB_ID', 400, () => 'invalid scrub id: expected the scrub_id POST /scrub answered (a UUID)'),
  scrubNotFound: declare('SCRUB_NOT_FOUND', 404, (id: string) => `scrub not found: ${id} (unknown, or expired)`),
  storageCannotScrub: declare(
    'STORAGE_CANNOT_SCRUB',
    501,
    (storage: string, needs: string) => `${storage} cannot ${needs}: scrub needs it (docs/scrub.md)`,
  ),
  scrubFromNotAllowed: declare('SCRUB_FROM_NOT_ALLOWED', 403, (path: string) => `'from' is outside publish.allowed_roots: ${path}`),
  scrubFromInvalid: declare('SCRUB_FROM_INVALID', 400, (path: string) => `'from' must be an existing folder: ${path}`),
  // ---- end scrub (issue 20.1): errors ----
  cacheUnavailable: declare('CACHE_UNAVAILABLE', 503, () => 'cache unavailable: Redis is not reachable, try again later'),
} as const;
