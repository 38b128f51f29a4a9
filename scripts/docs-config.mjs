// Rewrites the configuration reference in README.md from the schema (run after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
import { configReference } from '../dist/src/config/reference.js';

const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const before = readme.slice(0, readme.indexOf(START) + START.length);
const after = readme.slice(readme.indexOf(END));
writeFileSync(new URL('../README.md', import.meta.url), `${before}\n${configReference()}\n${after}`);
