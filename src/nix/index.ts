export {
  isNarinfo,
  isNixCacheInfo,
  parseNarinfo,
  missingNarinfoFields,
  readNarinfo,
  narPathOf,
  REQUIRED_NARINFO_FIELDS,
  NARINFO_READ_LIMIT,
} from './narinfo.js';
