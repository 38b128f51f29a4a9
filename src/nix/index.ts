export {
  isNarinfo,
  isNixCacheInfo,
  parseNarinfo,
  missingNarinfoFields,
  readNarinfo,
  readNarinfoFrom,
  narPathOf,
  REQUIRED_NARINFO_FIELDS,
  NARINFO_READ_LIMIT,
} from './narinfo.js';
export { nixBase32, isNixBase32 } from './base32.js';
