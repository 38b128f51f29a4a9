/**
 * A setting a component reads each time it needs it: a plain value (fixed for the
 * component's life) or a function returning the current value (a reloaded config takes
 * effect at the next read). Components that only read a value per request or per job
 * take a `Setting`; those that must act when it changes get an `update()` instead.
 */
export type Setting<T extends object | string | number | boolean> = T | (() => T);

export function readSetting<T extends object | string | number | boolean>(setting: Setting<T>): T {
  return typeof setting === 'function' ? (setting as () => T)() : setting;
}
