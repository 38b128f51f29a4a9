/**
 * Whether a stored object is proven to hold exactly the bytes that were read, from what
 * an S3-compatible server answers. Servers differ (docs/uploads.md has the table):
 * s3rver checks no digest but answers MD5 ETags; Ceph RGW answers an empty ETag to
 * CompleteMultipartUpload; AWS with SSE-KMS or SSE-C answers ETags that are no MD5 at
 * all; R2 composes multipart ETags its own way. A proof is one of:
 *
 * - `etag`: the object's ETag is the MD5 of the bytes read (single PUT), or the MD5 of
 *   the parts' MD5s (multipart): the server computed it from what it stored.
 * - `checksum`: the server echoed the CRC-32 we sent (`x-amz-checksum-crc32`), which a
 *   server that implements flexible checksums verifies before storing.
 * - `part_etags`: every part's ETag was the MD5 of its bytes, the upload was completed
 *   with exactly that part list, and a HEAD afterwards shows the whole size.
 * - `content_md5`: the server accepted every request carrying the Content-MD5 of its
 *   body, and is known to refuse a mismatch (`s3.trust_content_md5`, or it answered with
 *   SSE-KMS/SSE-C headers, which only AWS-like servers that check Content-MD5 send).
 */
export type UploadProof = 'etag' | 'checksum' | 'part_etags' | 'content_md5';

const PLAIN_MD5 = /^[0-9a-f]{32}$/;
const COMPOSITE = /^[0-9a-f]{32}-\d+$/;

/** What a server said about an object it stored, and what the daemon read. */
export interface StoredEvidence {
  /** The ETag the server gave, unquoted (undefined or '' when it gave none). */
  etag: string | undefined;
  /** Hex MD5 of the bytes read. */
  md5: string;
  /** For a multipart upload: the MD5 of the parts' MD5s, with `-<parts>`. */
  composite?: string | undefined;
  /** The `x-amz-checksum-crc32` sent, and the one echoed back. */
  checksumSent?: string | undefined;
  checksumEchoed?: string | undefined;
  /** Every part's ETag was the MD5 of its bytes, and a HEAD showed the whole size. */
  partsProven?: boolean | undefined;
  /** The server answered with SSE-KMS or SSE-C headers (its ETags are no MD5s). */
  encrypted?: boolean | undefined;
  /** `s3.trust_content_md5`: the server is known to refuse a body that does not match its Content-MD5. */
  trustContentMd5: boolean;
}

export type Verdict =
  | { proof: UploadProof }
  /** The server's digest is of other bytes: the upload went wrong, trying again may fix it. */
  | { mismatch: string }
  /** Nothing proves the object, and nothing shows it wrong: trying again cannot help. */
  | { unproven: string };

/** The ETag proves the content: equal to the MD5, or to the multipart composition. */
export function etagProves(evidence: Pick<StoredEvidence, 'etag' | 'md5' | 'composite'>): boolean {
  return evidence.etag === evidence.md5 || (evidence.composite !== undefined && evidence.etag === evidence.composite);
}

/** Judges the evidence, strongest proof first. */
export function judgeStored(evidence: StoredEvidence): Verdict {
  if (etagProves(evidence)) return { proof: 'etag' };
  if (evidence.checksumSent !== undefined && evidence.checksumEchoed === evidence.checksumSent) return { proof: 'checksum' };
  if (evidence.partsProven) return { proof: 'part_etags' };
  if (evidence.trustContentMd5 || evidence.encrypted) return { proof: 'content_md5' };
  const expected = evidence.composite ?? evidence.md5;
  const etag = evidence.etag ?? '';
  // An MD5-shaped ETag of other bytes is what a server that checks no digest (s3rver)
  // answers to a body corrupted on the way.
  if (PLAIN_MD5.test(etag) || (evidence.composite !== undefined && COMPOSITE.test(etag))) {
    return { mismatch: `stored object does not match: ETag ${etag}, expected ${expected}` };
  }
  return {
    unproven:
      `stored object cannot be proven: the server's ETag "${etag}" is not the MD5 ${expected} of the content and no checksum came back;` +
      ' if this server refuses a wrong Content-MD5 (AWS S3, Ceph RGW, MinIO, R2, Garage do), set s3.trust_content_md5 = true',
  };
}

/** The reply headers of an AWS-like server storing the object encrypted with KMS or a customer key. */
export function encryptedReply(headers: Record<string, string | string[] | undefined>): boolean {
  const sse = headers['x-amz-server-side-encryption'];
  return sse === 'aws:kms' || sse === 'aws:kms:dsse' || headers['x-amz-server-side-encryption-customer-algorithm'] !== undefined;
}
