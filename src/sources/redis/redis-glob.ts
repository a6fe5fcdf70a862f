/**
 * @module sources/redis/redis-glob
 * Glob matching with the semantics of Redis's KEYS/SCAN patterns (`*`, `?`, `[abc]`, `[^a]`,
 * `[a-z]`, `\x`), on bytes, since keys are binary. A port of Redis's stringmatchlen.
 */

const STAR = 0x2a;
const QUESTION = 0x3f;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const CARET = 0x5e;
const BACKSLASH = 0x5c;
const DASH = 0x2d;

/** True when `key` matches the Redis glob `pattern`. */
export function redisGlobMatch(pattern: Uint8Array, key: Uint8Array): boolean {
  return match(pattern, 0, key, 0, 0);
}

function match(p: Uint8Array, pi: number, s: Uint8Array, si: number, depth: number): boolean {
  // Deep recursion only comes from many stars; Redis caps it too.
  if (depth > 1000) return false;
  const at = (i: number) => (i < p.length ? p[i] : 0);
  while (pi < p.length && si < s.length) {
    const c = p[pi];
    if (c === STAR) {
      while (pi + 1 < p.length && p[pi + 1] === STAR) pi++;
      if (pi + 1 === p.length) return true;
      for (let k = si; k < s.length; k++) if (match(p, pi + 1, s, k, depth + 1)) return true;
      return false;
    }
    if (c === QUESTION) {
      si++;
    } else if (c === OPEN) {
      pi++;
      const not = at(pi) === CARET;
      if (not) pi++;
      let matched = false;
      for (;;) {
        if (at(pi) === BACKSLASH && p.length - pi >= 2) {
          pi++;
          if (p[pi] === s[si]) matched = true;
        } else if (at(pi) === CLOSE) {
          break;
        } else if (pi >= p.length) {
          pi--;
          break;
        } else if (p.length - pi >= 3 && p[pi + 1] === DASH) {
          let start = p[pi];
          let end = p[pi + 2];
          if (start > end) [start, end] = [end, start];
          pi += 2;
          if (s[si] >= start && s[si] <= end) matched = true;
        } else if (p[pi] === s[si]) {
          matched = true;
        }
        pi++;
      }
      if (not) matched = !matched;
      if (!matched) return false;
      si++;
    } else {
      if (c === BACKSLASH && p.length - pi >= 2) pi++;
      if (p[pi] !== s[si]) return false;
      si++;
    }
    pi++;
    if (si === s.length) {
      while (pi < p.length && p[pi] === STAR) pi++;
      break;
    }
  }
  // An empty key still matches "*" (as KEYS * lists it).
  if (si === s.length) while (pi < p.length && p[pi] === STAR) pi++;
  return pi >= p.length && si === s.length;
}
