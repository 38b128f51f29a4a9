/**
 * Which storage answers mean "slow down": 429 (R2, B2: TooManyRequests), S3's 503 SlowDown,
 * the throttling codes of other S3-compatible servers, and any error answer carrying
 * `Retry-After`.
 */
const THROTTLING_CODES = new Set([
  'SlowDown',
  'TooManyRequests',
  'TooManyRequestsException',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'RequestThrottled',
]);

/** One answer of the storage, as the request paths see it. */
export interface StorageAnswer {
  status: number;
  /** The S3 error code (`<Code>` of the XML body), when there is one. */
  code?: string | undefined;
  /** The `Retry-After` header, as sent. */
  retryAfter?: string | undefined;
}

/** The code a throttling answer is counted under (`sync4loong_throttled_responses_total`), or undefined for any other answer. */
export function throttlingCode(answer: StorageAnswer): string | undefined {
  if (answer.code !== undefined && THROTTLING_CODES.has(answer.code)) return answer.code;
  if (answer.status === 429) return answer.code ?? 'TooManyRequests';
  if (answer.status >= 400 && answer.retryAfter !== undefined) return answer.code ?? String(answer.status);
  return undefined;
}

/**
 * `Retry-After` in milliseconds from `now` (delta-seconds or an HTTP date), or undefined
 * when absent or unreadable. Never negative.
 */
export function retryAfterMs(header: string | undefined, now = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The answer an error carries: an S3 error of the lean path or of the SDK (`$response`). */
export function answerOf(error: unknown): StorageAnswer | undefined {
  const e = error as {
    name?: unknown;
    retryAfter?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    $response?: { statusCode?: unknown; headers?: Record<string, unknown> };
  } | null;
  if (e === null || typeof e !== 'object') return undefined;
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  if (typeof status !== 'number') return undefined;
  const header = e.retryAfter ?? e.$response?.headers?.['retry-after'];
  return { status, code: typeof e.name === 'string' ? e.name : undefined, retryAfter: typeof header === 'string' ? header : undefined };
}

/** Whether an error is the storage telling the daemon to slow down. */
export function isThrottlingError(error: unknown): boolean {
  const answer = answerOf(error);
  return answer !== undefined && throttlingCode(answer) !== undefined;
}
