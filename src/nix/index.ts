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
