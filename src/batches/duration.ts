/**
 * Go's `time.Duration.String()` format (`1m2.5s`, `350ms`, `1h0m0s`, `0s`), which the
 * seed's `SyncResult.duration` carries: clients written against the Go daemon parse it
 * with `time.ParseDuration`.
 */
export function formatGoDuration(milliseconds: number): string {
  let ns = Math.round(milliseconds * 1e6);
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  ns = Math.abs(ns);
  if (ns < 1e3) return `${sign}${ns}ns`;
  if (ns < 1e6) return `${sign}${withFraction(ns, 1e3, 3)}µs`;
  if (ns < 1e9) return `${sign}${withFraction(ns, 1e6, 6)}ms`;
  const hours = Math.floor(ns / 3.6e12);
  ns -= hours * 3.6e12;
  const minutes = Math.floor(ns / 6e10);
  ns -= minutes * 6e10;
  let text = sign;
  if (hours > 0) text += `${hours}h`;
  if (hours > 0 || minutes > 0) text += `${minutes}m`;
  return `${text}${withFraction(ns, 1e9, 9)}s`;
}

/** `value / unit` with the fraction's trailing zeros dropped, as Go prints it. */
function withFraction(value: number, unit: number, digits: number): string {
  const whole = Math.floor(value / unit);
  const rest = value - whole * unit;
  if (rest === 0) return String(whole);
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}
