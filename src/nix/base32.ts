/**
 * Nix's base-32: the encoding of hashes in store paths and narinfos (`FileHash:
 * sha256:<52 characters>`). Its own alphabet (no e, o, u, t) and its own bit order: the
 * last character holds the lowest bits of the first byte.
 */
const ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

export function nixBase32(bytes: Uint8Array): string {
  const length = Math.ceil((bytes.length * 8) / 5);
  let out = '';
  for (let n = length - 1; n >= 0; n -= 1) {
    const bit = n * 5;
    const index = Math.floor(bit / 8);
    const shift = bit % 8;
    const low = bytes[index]! >> shift;
    const high = index + 1 < bytes.length ? bytes[index + 1]! << (8 - shift) : 0;
    out += ALPHABET[(low | high) & 0x1f];
  }
  return out;
}

/** Whether `text` is a valid Nix base-32 string (alphabet only). */
export function isNixBase32(text: string): boolean {
  return /^[0-9abcdfghijklmnpqrsvwxyz]+$/.test(text);
}
