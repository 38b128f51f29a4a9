export { createHttpServer, type HttpServerOptions } from './server.js';
export { registerPublishRoutes } from './routes/publish.js';
export { registerHealthRoutes, type ReadinessProbe } from './routes/health.js';
export { registerCheckRoutes } from './routes/check.js';
