import mime from 'mime';

const NAR = /\.nar(\.[A-Za-z0-9]+)?$/;

/** Content-Type of an object: Nix binary-cache files by their role, others by extension. */
export function contentTypeFor(key: string): string {
  const name = key.slice(key.lastIndexOf('/') + 1);
  if (name === 'nix-cache-info') return 'text/x-nix-cache-info';
  if (name.endsWith('.narinfo')) return 'text/x-nix-narinfo';
  if (NAR.test(name)) return 'application/x-nix-archive';
  return mime.getType(name) ?? 'application/octet-stream';
}
