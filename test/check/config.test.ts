import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const s3 = {
  SYNC4LOONG_S3_ENDPOINT: 'http://127.0.0.1:9000',
  SYNC4LOONG_S3_REGION: 'r',
  SYNC4LOONG_S3_BUCKET: 'b',
  SYNC4LOONG_S3_ACCESS_KEY: 'a',
  SYNC4LOONG_S3_SECRET_KEY: 's',
};

it('the /check cache keys have their documented defaults and env overrides', () => {
  const { config } = loadConfig({ env: s3 });
  assert.deepEqual(
    [config.cache.positive_ttl_seconds, config.cache.negative_ttl_seconds, config.cache.s3_timeout_seconds, config.cache.max_batch_keys],
    [0, 60, 5, 1000],
  );
  const overridden = loadConfig({
    env: {
      ...s3,
      SYNC4LOONG_CACHE_NEGATIVE_TTL_SECONDS: '0',
      SYNC4LOONG_CACHE_S3_TIMEOUT_SECONDS: '0.5',
      SYNC4LOONG_CACHE_MAX_BATCH_KEYS: '10',
    },
  }).config;
  assert.deepEqual(
    [overridden.cache.negative_ttl_seconds, overridden.cache.s3_timeout_seconds, overridden.cache.max_batch_keys],
    [0, 0.5, 10],
  );
});

it('refuses out-of-range /check cache keys, all reported at once', () => {
  const env = {
    ...s3,
    SYNC4LOONG_CACHE_POSITIVE_TTL_SECONDS: '-1',
    SYNC4LOONG_CACHE_NEGATIVE_TTL_SECONDS: '1.5',
    SYNC4LOONG_CACHE_S3_TIMEOUT_SECONDS: '0',
    SYNC4LOONG_CACHE_MAX_BATCH_KEYS: '0',
  };
  assert.throws(
    () => loadConfig({ env }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      for (const key of ['positive_ttl_seconds', 'negative_ttl_seconds', 's3_timeout_seconds', 'max_batch_keys']) {
        assert.ok(
          error.problems.some((problem) => problem.includes(`cache.${key}`)),
          `${key} reported: ${error.problems.join('; ')}`,
        );
      }
      return true;
    },
  );
});
