/**
 * Where an S3 object lives on the wire: host and path for a key, path-style or
 * virtual-host, with the key encoded as SigV4 and the AWS SDK encode it.
 */

export interface ObjectAddress {
  /** `https:` or `http:`. */
  protocol: string;
  /** Host name to connect to (no port). */
  hostname: string;
  /** Port, or '' for the protocol's default. */
  port: string;
  /** `Host` header value (host name and non-default port), also what is signed. */
  host: string;
  /** Request path: already URI-encoded, as sent and as signed. */
  path: string;
}

/**
 * One key segment encoded as SigV4 asks (RFC 3986 unreserved characters stay, everything
 * else is %XX of its UTF-8 bytes): `encodeURIComponent` leaves `!'()*` alone, so those
 * are escaped too. Same as the SDK's `extendedEncodeURIComponent`.
 */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A key as a URI path: each `/`-separated segment encoded, the `/` kept (empty segments too). */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeSegment).join('/');
}

/**
 * Whether the bucket can be a DNS label in front of the endpoint's host, by the rule the
 * SDK's endpoint resolver applies (`isVirtualHostableS3Bucket`): 3-63 characters,
 * lower-case letters, digits and `-`, not an IP address. Dotted names only over plain
 * HTTP (a dotted name breaks the TLS wildcard certificate); otherwise path style.
 */
export function isVirtualHostable(bucket: string, protocol: string): boolean {
  const label = (name: string) =>
    name.length >= 3 && name.length <= 63 && /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(name) && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return false;
  if (label(bucket)) return true;
  return protocol === 'http:' && bucket.split('.').every(label);
}

/**
 * Builds the address of objects of one bucket; the endpoint's own path (a proxy prefix)
 * is kept in front, as the SDK does.
 */
export function createAddressing(endpoint: string, bucket: string, forcePathStyle: boolean): (key: string) => ObjectAddress {
  const url = new URL(endpoint);
  const base = url.pathname.replace(/\/+$/, '');
  const virtual = !forcePathStyle && isVirtualHostable(bucket, url.protocol);
  const hostname = virtual ? `${bucket}.${url.hostname}` : url.hostname;
  const host = url.port === '' ? hostname : `${hostname}:${url.port}`;
  const prefix = virtual ? `${base}/` : `${base}/${encodeSegment(bucket)}/`;
  return (key) => ({ protocol: url.protocol, hostname, port: url.port, host, path: prefix + encodeKey(key) });
}
