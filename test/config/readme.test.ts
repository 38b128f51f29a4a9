import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { configReference } from '../../src/config/reference.js';
import { projectRoot } from '../helpers/daemon.js';

it('docs/configuration.md documents every config key exactly as the schema says (npm run docs:config)', async () => {
  const readme = await readFile(join(projectRoot, 'docs', 'configuration.md'), 'utf8');
  const start = readme.indexOf('<!-- config-reference:start -->');
  const end = readme.indexOf('<!-- config-reference:end -->');
  assert.ok(start >= 0 && end > start, 'docs/configuration.md has the config reference markers');
  const block = readme.slice(start + '<!-- config-reference:start -->'.length, end).trim();
  assert.equal(block, configReference().trim());
});
