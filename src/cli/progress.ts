/**
 * Progress of a followed batch: one line rewritten in place (`\r`) on a terminal, plain
 * lines otherwise (logs, CI). The bar is a single formatted line; a progress-bar library
 * would bring more configuration than the line itself.
 */
import type { BatchProgress, BatchResult } from '../batches/index.js';

const BAR_WIDTH = 24;

function counts(progress: BatchProgress): string {
  return `uploaded ${progress.uploaded_files}, skipped ${progress.skipped_files}, failed ${progress.failed_count}`;
}

/** `[######------]  50% 5/10 files  uploaded 4, skipped 1, failed 0  1.2s` */
export function progressBar(progress: BatchProgress): string {
  const total = progress.total_files;
  const fraction = total > 0 ? Math.min(1, progress.processed_files / total) : 0;
  const filled = Math.round(fraction * BAR_WIDTH);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${percent} ${progress.processed_files}/${total} files  ${counts(progress)}  ${progress.duration}`;
}

/** `progress: 5/10 files (uploaded 4, skipped 1, failed 0) 1.2s` */
export function progressLine(progress: BatchProgress): string {
  return `progress: ${progress.processed_files}/${progress.total_files} files (${counts(progress)}) ${progress.duration}`;
}

/** The final lines: totals, then each failed file with its reason. */
export function summaryLines(result: BatchResult): string[] {
  const lines = [
    `${result.state}: ${result.total_files} files, ${result.uploaded_files} uploaded, ${result.skipped_files} skipped, ${result.failed_files.length} failed in ${result.duration}`,
  ];
  for (const failure of result.failures) lines.push(`failed: ${failure.s3_key}: ${failure.reason}`);
  return lines;
}

export interface ProgressReporter {
  update(progress: BatchProgress): void;
  /** Ends the rewritten line, if any. */
  finish(): void;
}

export function createProgressReporter(stream: NodeJS.WriteStream): ProgressReporter {
  const tty = stream.isTTY === true;
  let drawn = false;
  return {
    update(progress) {
      if (!tty) {
        stream.write(`${progressLine(progress)}\n`);
        return;
      }
      const line = progressBar(progress);
      const width = stream.columns > 0 ? stream.columns - 1 : line.length;
      stream.write(`\r${line.slice(0, width)}\u001b[K`);
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
