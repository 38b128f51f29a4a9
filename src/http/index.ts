export { createHttpServer, type HttpServerOptions } from './server.js';
export { registerPublishRoutes } from './routes/publish.js';
export { registerHealthRoutes, type ReadinessProbe } from './routes/health.js';
export { registerAuth, tokenMatches, presentedToken, type AuthOptions } from './auth.js';
export { registerMetricsRoute } from './routes/metrics.js';
export { registerStatsRoute } from './routes/stats.js';
export { registerQueueUi, type QueueUiDeps, type QueueUiOptions } from './queue-ui.js';
export { registerHooksRoutes } from './routes/hooks.js';
export { registerCheckRoutes } from './routes/check.js';
