/** An ETag as S3 sends it (`"abc..."`), without quotes and lower-cased. */
export function unquoteEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, '').toLowerCase();
}
