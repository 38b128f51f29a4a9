import { EventSourceParserStream } from 'eventsource-parser/stream';
import type { BatchProgress, BatchResult } from '../batches/index.js';
import { CliError, errorOf, headersFor, type Daemon } from './client.js';

/** Reconnections allowed in a row (a daemon restart, a proxy timeout) before giving up. */
const MAX_RECONNECTS = 5;

/**
 * Follows `GET /batches/{id}/events` until its `result` event; reconnects when the stream
 * drops (each connection starts with the current counters, so nothing is missed).
 */
export async function followBatchEvents(daemon: Daemon, id: string, onProgress: (progress: BatchProgress) => void): Promise<BatchResult> {
  let failures = 0;
  for (;;) {
    let response: Response | undefined;
    try {
      response = await fetch(`${daemon.url}/batches/${id}/events`, { headers: headersFor(daemon, { accept: 'text/event-stream' }) });
    } catch (error) {
      if (++failures > MAX_RECONNECTS) throw new CliError(`lost the daemon at ${daemon.url}: ${(error as Error).message}`);
    }
    if (response !== undefined) {
      if (!response.ok || response.body === null) {
        const text = await response.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // keep the text
        }
        throw new CliError(`cannot follow batch ${id}: ${errorOf({ status: response.status, body })}`);
      }
      try {
        const events = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
        for await (const event of events) {
          failures = 0;
          const data = JSON.parse(event.data) as unknown;
          if (event.event === 'progress') onProgress(data as BatchProgress);
          else if (event.event === 'result') return data as BatchResult;
          else if (event.event === 'error') throw new CliError(`batch ${id}: ${(data as { error?: string }).error ?? event.data}`);
        }
      } catch (error) {
        if (error instanceof CliError) throw error;
      }
      if (++failures > MAX_RECONNECTS) throw new CliError(`the event stream of batch ${id} keeps closing`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
