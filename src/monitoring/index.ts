export { createStatsReader, type Stats, type StatsQueue, type StatsReader, type QueueStats, type LastError } from './stats.js';
