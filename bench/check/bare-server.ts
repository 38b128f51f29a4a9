/**
 * The yardstick of the /check benchmark: a bare Fastify server answering each request with
 * one ioredis GET, nothing else. Prints `listening <port>` once ready.
 *
 *   node dist/bench/check/bare-server.js <redis-port> <key-prefix>
 */
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const [redisPort, keyPrefix = ''] = process.argv.slice(2);
const redis = new Redis({ host: '127.0.0.1', port: Number(redisPort) });
const app = Fastify({ logger: false });

app.get('/check/*', async (request, reply) => {
  const value = await redis.get(keyPrefix + (request.params as { '*': string })['*']);
  return reply.type('application/json').send(value ?? '{"exists":false}');
});

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
process.on('SIGTERM', () => {
  void app.close().then(() => redis.disconnect());
});
