/**
 * Confident learning (Northcutt, Jiang & Chuang, JAIR 2021; cleanlab's `find_label_issues` with
 * `filter_by='prune_by_noise_rate'`), given out-of-sample probabilities P (n x K) and labels y:
 * 1. per-class thresholds t_j = mean of P[i][j] over samples labelled j (mean self-confidence);
 * 2. confident joint C[i][j]: samples labelled i whose most probable class among those with
 *    P >= t is j;
 * 3. calibration: each row of C rescaled to the number of samples labelled i, then normalised to
 *    the joint Q (Sec. 3.1, eq. 3); the noise-rate estimate is 1 - trace(Q);
 * 4. prune by noise rate: for each given class i, flag the round(n * sum_{j != i} Q[i][j]) samples
 *    labelled i with the largest margin max_{j != i} P[j] - P[i].
 */

export interface ConfidentLearningResult {
  flagged: Uint8Array
  /** Suggested class for flagged samples (the most probable other class), the given one otherwise. */
  suggested: Int32Array
  /** Margin max_{j != y} P[j] - P[y] per sample (higher = more certainly mislabelled). */
  margin: Float32Array
  thresholds: number[]
  confidentJoint: number[][]
  /** Calibrated joint Q of (given, true), sums to 1. */
  joint: number[][]
  /** Estimated fraction of wrong labels, 1 - trace(Q). */
  noiseRate: number
  /** Flags per given class. */
  prunePerClass: number[]
}

/** Runs confident learning on out-of-sample probabilities (see the module comment). */
export function confidentLearning(probs: Float32Array, y: Int32Array, k: number): ConfidentLearningResult {
  const n = y.length
  if (probs.length !== n * k) throw new Error(`confident learning: expected ${n} x ${k} probabilities, got ${probs.length}`)
  const count = new Array<number>(k).fill(0)
  const sum = new Array<number>(k).fill(0)
  for (let i = 0; i < n; i++) {
    count[y[i]!]!++
    sum[y[i]!]! += probs[i * k + y[i]!]!
  }
  // A class nobody is labelled with gets threshold 1 (cleanlab would divide by zero).
  const thresholds = sum.map((s, j) => (count[j]! > 0 ? s / count[j]! : 1))
  const cj: number[][] = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  for (let i = 0; i < n; i++) {
    let best = -1
    let bp = -Infinity
    for (let j = 0; j < k; j++) {
      const p = probs[i * k + j]!
      if (p >= thresholds[j]! && p > bp) {
        bp = p
        best = j
      }
    }
    if (best >= 0) cj[y[i]!]![best]!++
  }
  // Calibrate rows to the label counts, then normalise to a joint distribution.
  const cal = cj.map((row, i) => {
    const s = row.reduce((a, b) => a + b, 0)
    return row.map((v) => (s > 0 ? (v / s) * count[i]! : 0))
  })
  // A class with no confident sample at all: assume its labels are right (diagonal).
  for (let i = 0; i < k; i++) if (cal[i]!.every((v) => v === 0)) cal[i]![i] = count[i]!
  const tot = cal.reduce((a, r) => a + r.reduce((b, c) => b + c, 0), 0)
  const joint = cal.map((r) => r.map((v) => (tot > 0 ? v / tot : 0)))
  let trace = 0
  for (let i = 0; i < k; i++) trace += joint[i]![i]!
  const margin = new Float32Array(n)
  const suggested = new Int32Array(n)
  const byClass: number[][] = Array.from({ length: k }, () => [])
  for (let i = 0; i < n; i++) {
    const yi = y[i]!
    let bj = -1
    let bp = -Infinity
    for (let j = 0; j < k; j++) {
      if (j === yi) continue
      const p = probs[i * k + j]!
      if (p > bp) {
        bp = p
        bj = j
      }
    }
    margin[i] = bp - probs[i * k + yi]!
    suggested[i] = bj < 0 ? yi : bj
    byClass[yi]!.push(i)
  }
  const flagged = new Uint8Array(n)
  const prunePerClass = new Array<number>(k).fill(0)
  for (let c = 0; c < k; c++) {
    let off = 0
    for (let j = 0; j < k; j++) if (j !== c) off += joint[c]![j]!
    const m = Math.min(byClass[c]!.length, Math.round(n * off))
    prunePerClass[c] = m
    const idx = byClass[c]!.sort((a, b) => margin[b]! - margin[a]!)
    for (let r = 0; r < m; r++) flagged[idx[r]!] = 1
  }
  for (let i = 0; i < n; i++) if (!flagged[i]) suggested[i] = y[i]!
  return { flagged, suggested, margin, thresholds, confidentJoint: cj, joint, noiseRate: 1 - trace, prunePerClass }
}
