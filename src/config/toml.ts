import { stringify } from 'smol-toml';
import type { Config } from './schema.js';

/** Renders a config as TOML, in the layout of the seed's config file. */
export function toToml(config: Config): string {
  return stringify(config as unknown as Record<string, unknown>);
}
