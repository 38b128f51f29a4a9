export { createScrubber, parseScrubRequest, type Scrubber, type ScrubberDeps, type ScrubSettings } from './scrubber.js';
export { createPeriodicScrub, type PeriodicScrub } from './periodic.js';
export { createRepairer, type Republish } from './repair.js';
export { runScan } from './scan.js';
export { createScratch } from './scratch.js';
export { judgeNarinfo, cacheInfoProblem, isNarKey, cacheRootOf, QUARANTINE_PREFIX } from './checks.js';
export { fileHashMatches } from './hash.js';
export * from './types.js';
