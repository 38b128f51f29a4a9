export {
  loadConfig,
  validateConfig,
  redactConfig,
  redactUrl,
  secretValues,
  envName,
  configFileFor,
  ConfigError,
  ENV_PREFIX,
  DEFAULT_CONFIG_FILE,
} from './load.js';
export type { LoadOptions, LoadedConfig } from './load.js';
export { configSchema, sections, secretKeys } from './schema.js';
export type { Config, SectionName } from './schema.js';
export { toToml } from './toml.js';
export { createLiveConfig, fixedConfig } from './live.js';
export type { LiveConfig, LiveConfigOptions, ConfigListener, ConfigStatus, ReloadResult } from './live.js';
export { RESTART_KEYS, needsRestart, changedKeys, configHash } from './reload.js';
