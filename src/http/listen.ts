import type { FastifyInstance } from 'fastify';

/** Where to listen: `host` empty in `addr` (`:8080`) means every address. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Hosts meaning "every address": IPv6 (dual-stack) first, IPv4 where IPv6 is unavailable. */
const EVERY_ADDRESS = ['::', '0.0.0.0'] as const;

/** `host:port`, `[v6]:port` or `:port` (every address: host `''`). */
export function parseListenAddress(addr: string): ListenAddress {
  const separator = addr.lastIndexOf(':');
  const host = addr.slice(0, separator).replace(/^\[|\]$/g, '');
  return { host, port: Number(addr.slice(separator + 1)) };
}

/** The kernel has no IPv6 at all (disabled, or not built in). */
function isIpv6Unavailable(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL' || code === 'EPROTONOSUPPORT';
}

/**
 * Listens on `address`. An empty host listens on every IPv4 and IPv6 address, as Go's
 * `net.Listen("tcp", ":8080")` does: one dual-stack socket on `::` (libuv clears
 * IPV6_V6ONLY, whatever `net.ipv6.bindv6only` says), or `0.0.0.0` on a host without
 * IPv6. Resolves with the host actually bound.
 */
export async function listenOn(http: FastifyInstance, address: ListenAddress): Promise<string> {
  if (address.host !== '') {
    await http.listen({ host: address.host, port: address.port });
    return address.host;
  }
  const [dualStack, ipv4] = EVERY_ADDRESS;
  try {
    await http.listen({ host: dualStack, port: address.port, ipv6Only: false });
    return dualStack;
  } catch (error) {
    if (!isIpv6Unavailable(error)) throw error;
    http.log.warn({ err: error }, 'IPv6 unavailable: listening on IPv4 only');
    await http.listen({ host: ipv4, port: address.port });
    return ipv4;
  }
}
