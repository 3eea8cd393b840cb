/**
 * Small seeded pseudo-random generator for reproducible noise injection and synthetic data.
 * Math.random cannot be seeded, and a validation must draw the same noisy labels for the same
 * seed on every machine and every resume.
 */

/**
 * mulberry32 (Tommy Ettinger, public domain): a 32-bit state, full 2^32 period, passes
 * gjrand/PractRand for the small streams used here. Returns floats uniform in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A seeded generator with the few draws the validation needs. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number
  /** Integer uniform in [0, n). */
  int(n: number): number
  /** Standard normal (Box-Muller). */
  normal(): number
}

/**
 * Creates a seeded generator. Different seeds give independent-looking streams because the seed
 * is first scrambled with splitmix32 (so seeds 0, 1, 2 do not start from neighbouring states).
 */
export function createRng(seed: number): Rng {
  // splitmix32 finaliser on the seed
  let z = (seed >>> 0) + 0x9e3779b9
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  z ^= z >>> 16
  const u = mulberry32(z)
  let spare: number | undefined
  return {
    next: u,
    int: (n) => Math.floor(u() * n),
    normal: () => {
      if (spare !== undefined) {
        const s = spare
        spare = undefined
        return s
      }
      let a = 0
      while (a === 0) a = u()
      const b = u()
      const r = Math.sqrt(-2 * Math.log(a))
      spare = r * Math.sin(2 * Math.PI * b)
      return r * Math.cos(2 * Math.PI * b)
    },
  }
}
