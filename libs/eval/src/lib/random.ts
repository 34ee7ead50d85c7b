/**
 * Creates a seeded pseudo-random generator (mulberry32, 32-bit state) that returns numbers in
 * [0, 1). The same seed gives the same sequence on every platform, so bootstrap intervals are
 * reproducible. It is fast and adequate for resampling, not for cryptography.
 *
 * @param seed - any integer; only its low 32 bits are used
 * @example
 * const random = createRandom(42);
 * random(); // the same number on every run
 */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
