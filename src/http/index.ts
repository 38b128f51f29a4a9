export { createHttpServer, type HttpServerOptions } from './server.js';
export { registerPublishRoutes } from './routes/publish.js';
export { registerBatchRoutes, type BatchRoutesDeps } from './routes/batches.js';
export { registerHealthRoutes, type ReadinessProbe } from './routes/health.js';
export { registerAuth, tokenMatches, presentedToken, type AuthOptions } from './auth.js';
