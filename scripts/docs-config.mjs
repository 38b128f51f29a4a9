// Rewrites the generated part of docs/configuration.md from the schema (run after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
import { configReference } from '../dist/src/config/reference.js';

const START = '<!-- config-reference:start -->';
const END = '<!-- config-reference:end -->';
const file = new URL('../docs/configuration.md', import.meta.url);
const text = readFileSync(file, 'utf8');
const before = text.slice(0, text.indexOf(START) + START.length);
const after = text.slice(text.indexOf(END));
writeFileSync(file, `${before}\n${configReference()}\n${after}`);
