/**
 * The audit: how accurate are the final labels? A seeded simple random sample (without
 * replacement) of the labelled dataset, or of its unflagged part, is labelled blind by an
 * inspector; the share of sampled final labels that agree with the inspector estimates the
 * accuracy, with a 95% interval. Pure functions over arrays; the use case (usecases/audit.ts)
 * reads the project and stores the audit.
 *
 * - **Size** (`sampleSize`): the normal-approximation plan n0 = z² p(1 − p) / h² for a 95%
 *   interval of half-width h at the planning accuracy p (p = 0.5, the default, is the worst case:
 *   any true accuracy then gives a half-width of at most h), rounded up, then the finite-population
 *   correction n = n0 / (1 + (n0 − 1) / N) (Cochran, Sampling Techniques, 3rd ed., eq. 4.2 and
 *   4.3) on the unrounded n0, rounded up and at most N: the smallest n whose half-width
 *   z √(p(1 − p)/n · (N − n)/(N − 1)) is at most h.
 * - **Draw** (`drawSample`): a partial Fisher–Yates shuffle of the frame's ids in ascending order,
 *   driven by util/rng.ts `createRng(seed)`: the same seed and frame give the same sample, in the
 *   same order, on every machine. The order is the order the inspector sees, so any prefix of it is
 *   itself a simple random sample (an audit stopped early still estimates without bias).
 * - **Intervals**: Wilson's score interval (Wilson 1927; Brown, Cai & DasGupta 2001, eq. 4), the
 *   one reported, whose coverage stays close to the nominal 95% for moderate n; and the exact
 *   Clopper–Pearson interval (1934), the binomial tails inverted by bisection, which is never below
 *   95% (conservative). Both treat the draw as binomial; sampling without replacement from a finite
 *   frame only narrows the true spread, so they are conservative there (no finite-population
 *   correction on the interval).
 * - **Estimate** (`estimateAccuracy`): over the audited samples, k of n final labels agree with
 *   the auditor: p̂ = k / n. Per class by the final label when drawn (of the samples labelled c,
 *   how many are c): k_c / n_c, a simple random sample of that class's part of the frame.
 * - **Overall figure of a stratified audit** (drawn from the unflagged part only): the dataset is
 *   the unflagged part U (N_u samples, audited) plus the run's flagged part F (N_f samples, not
 *   audited), of which R_f have a review decision and U_f = N_f − R_f have none. A reviewer decided
 *   the R_f samples with the suggestion and the image in front of them; they are counted as right
 *   (an assumption: audit 'all' to measure them too). Nothing is known about the U_f unreviewed
 *   flagged samples, whose final label is the given one that the model disputes. So
 *   overall = (N_u p̂ + R_f) / N, counting the unreviewed flagged samples as wrong, and the
 *   interval is [(N_u L + R_f) / N, (N_u U + R_f + U_f) / N] with [L, U] the stratum's Wilson
 *   interval: the lower end counts them wrong, the upper end right. With every flagged sample
 *   reviewed the interval is the stratum's, scaled. Per class the same with that class's counts.
 */
import { createRng } from '../util/rng.ts'

/** z for a two-sided 95% interval: the 0.975 quantile of the standard normal. */
export const Z95 = 1.959963984540054

/** Where an audit is drawn from: every labelled sample, or those a run did not flag. */
export type AuditStratum = 'all' | 'unflagged'

export interface Interval {
  lo: number
  hi: number
}

/** The size of an audit for a target half-width (see the module comment). */
export function sampleSize(o: { precision: number; expected?: number; population?: number; z?: number }): { n: number; n0: number } {
  const h = o.precision
  const p = o.expected ?? 0.5
  const z = o.z ?? Z95
  if (!(h > 0 && h < 1)) throw new RangeError(`precision must be in (0, 1), got ${h}`)
  if (!(p > 0 && p < 1)) throw new RangeError(`planning accuracy must be in (0, 1), got ${p}`)
  // Rounded up once, at the end: the correction is applied to the unrounded n0.
  const exact = (z * z * p * (1 - p)) / (h * h)
  const n0 = Math.max(1, Math.ceil(exact - 1e-9))
  const N = o.population
  if (N === undefined) return { n: n0, n0 }
  if (!Number.isInteger(N) || N < 0) throw new RangeError(`population must be a whole number >= 0, got ${N}`)
  return { n: Math.min(N, Math.max(1, Math.ceil(exact / (1 + (exact - 1) / N) - 1e-9))), n0 }
}

/**
 * A seeded simple random sample of `n` of `ids` (without replacement), in draw order. The ids are
 * sorted first, so the result does not depend on the order they were listed in.
 */
export function drawSample(ids: readonly number[], n: number, seed: number): number[] {
  const a = [...ids].sort((x, y) => x - y)
  const m = Math.min(n, a.length)
  const rng = createRng(seed)
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(a.length - i)
    const t = a[i]!
    a[i] = a[j]!
    a[j] = t
  }
  return a.slice(0, m)
}

/** Wilson score interval for k successes in n trials (z = 1.96 for 95%); [0, 1] when n = 0. */
export function wilson(k: number, n: number, z = Z95): Interval {
  if (n === 0) return { lo: 0, hi: 1 }
  const z2 = z * z
  const centre = (k + z2 / 2) / (n + z2)
  const half = (z / (n + z2)) * Math.sqrt((k * (n - k)) / n + z2 / 4)
  // At k = 0 or k = n the formula's end is 0 or 1 up to rounding.
  return { lo: k === 0 ? 0 : Math.max(0, centre - half), hi: k === n ? 1 : Math.min(1, centre + half) }
}

/** P(X <= k) for X ~ Binomial(n, p): the terms in log space, log C(n, 0) p^0 q^n first, then by the ratio of consecutive terms. */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0
  if (k >= n) return 1
  if (p <= 0) return 1
  if (p >= 1) return 0
  const odds = Math.log(p) - Math.log1p(-p)
  let lt = n * Math.log1p(-p)
  let s = Math.exp(lt)
  for (let i = 0; i < k; i++) {
    lt += Math.log((n - i) / (i + 1)) + odds
    s += Math.exp(lt)
  }
  return Math.min(1, s)
}

/** The p in [0, 1] where a monotone `f` crosses `target` (bisection to 1e-13). */
function bisect(f: (p: number) => number, target: number, increasing: boolean): number {
  let lo = 0
  let hi = 1
  for (let i = 0; i < 100 && hi - lo > 1e-13; i++) {
    const mid = (lo + hi) / 2
    if (f(mid) < target === increasing) lo = mid
    else hi = mid
  }
  return (lo + hi) / 2
}

/**
 * Clopper–Pearson exact interval for k successes in n trials at level 1 − alpha: lo solves
 * P(X >= k | lo) = alpha/2, hi solves P(X <= k | hi) = alpha/2 (lo = 0 at k = 0, hi = 1 at k = n).
 */
export function clopperPearson(k: number, n: number, alpha = 0.05): Interval {
  if (n === 0) return { lo: 0, hi: 1 }
  const lo = k === 0 ? 0 : bisect((p) => 1 - binomialCdf(k - 1, n, p), alpha / 2, true)
  const hi = k === n ? 1 : bisect((p) => binomialCdf(k, n, p), alpha / 2, false)
  return { lo, hi }
}

/**
 * The population an audit was drawn from, counted when it was drawn (stored with the audit, so a
 * report never changes afterwards). Counts are of samples with a final label (excluded samples
 * and samples without any label are not part of the dataset).
 */
export interface AuditFrame {
  stratum: AuditStratum
  /** Samples in the stratum, and per class idx (by final label). */
  size: number
  byClass: number[]
  /**
   * 'unflagged' only: the run's flagged samples (outside the stratum): how many, how many have a
   * review decision, and the same per class idx (by final label). Null for 'all'.
   */
  rest: { size: number; reviewed: number; byClass: { size: number; reviewed: number }[] } | null
}

/** One audited sample: its final label when drawn and the class the auditor gave it. */
export interface AuditPair {
  final: number
  truth: number
}

/** An accuracy figure: the audited samples, the stratum's estimate, and the dataset's. */
export interface AccuracyFigure {
  /** Audited samples (answered) and how many of their final labels agree with the auditor. */
  n: number
  correct: number
  /** Samples of the frame's stratum this figure covers. */
  population: number
  /** In the stratum: k / n (null when n = 0), its Wilson and Clopper–Pearson 95% intervals. */
  stratum: { estimate: number | null; wilson: Interval; exact: Interval }
  /** The whole labelled dataset (module comment): equal to the stratum's for an audit of 'all'. */
  overall: { estimate: number | null; lo: number; hi: number }
}

function figure(n: number, correct: number, population: number, rest: { size: number; reviewed: number } | null): AccuracyFigure {
  const estimate = n === 0 ? null : correct / n
  const w = wilson(correct, n)
  const stratum = { estimate, wilson: w, exact: clopperPearson(correct, n) }
  if (rest === null || rest.size === 0) return { n, correct, population, stratum, overall: { estimate, lo: w.lo, hi: w.hi } }
  const total = population + rest.size
  const unreviewed = rest.size - rest.reviewed
  if (total === 0) return { n, correct, population, stratum, overall: { estimate: null, lo: 0, hi: 1 } }
  return {
    n,
    correct,
    population,
    stratum,
    overall: {
      estimate: estimate === null && population > 0 ? null : (population * (estimate ?? 0) + rest.reviewed) / total,
      lo: (population * w.lo + rest.reviewed) / total,
      hi: (population * w.hi + rest.reviewed + unreviewed) / total,
    },
  }
}

/** The audit's estimate, overall and per class (by final label); see the module comment. */
export function estimateAccuracy(pairs: readonly AuditPair[], frame: AuditFrame): { overall: AccuracyFigure; perClass: AccuracyFigure[] } {
  const k = frame.byClass.length
  const n = new Array<number>(k).fill(0)
  const ok = new Array<number>(k).fill(0)
  let correct = 0
  for (const p of pairs) {
    if (p.final >= 0 && p.final < k) {
      n[p.final]!++
      if (p.truth === p.final) ok[p.final]!++
    }
    if (p.truth === p.final) correct++
  }
  const overall = figure(pairs.length, correct, frame.size, frame.rest)
  const perClass = frame.byClass.map((size, c) =>
    figure(n[c]!, ok[c]!, size, frame.rest ? (frame.rest.byClass[c] ?? { size: 0, reviewed: 0 }) : null),
  )
  return { overall, perClass }
}
