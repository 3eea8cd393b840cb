/**
 * Confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in
 * Dataset Labels", JAIR 70, 2021), following cleanlab 2.x `filter.find_label_issues(labels,
 * pred_probs, filter_by='prune_by_noise_rate')` with its defaults (frac_noise = 1,
 * min_examples_per_class = 1, no num_to_remove_per_class). Input: out-of-sample probabilities P
 * (n x K) and given labels y. Step by step, with the cleanlab function each step comes from:
 *
 * 1. Thresholds (`count.get_confident_thresholds`): t_j = mean of P[s][j] over the samples labelled
 *    j (mean self-confidence); a class nobody is labelled with gets t_j = 2 (no probability reaches
 *    it); every t_j is clipped from below at 2e-6.
 * 2. Confident joint (`count.compute_confident_joint`, calibrate=False): sample s is "confident" in
 *    class j when P[s][j] >= t_j - 1e-6. With exactly one such class, that class is its guessed true
 *    label; with two or more, the argmax of the WHOLE row (first index on ties; this can be a class
 *    below its own threshold, cleanlab's code does so although the paper's eq. 2 takes the argmax
 *    among the confident classes); with none, the sample is not counted at all. C[y_s][guess] += 1.
 *    Then the diagonal is clipped from below at 1 (every class counts at least one correct sample).
 * 3. Calibration (`count.calibrate_confident_joint`): row i of C is rescaled to the number of samples
 *    labelled i, (C[i][j] / sum_j C[i][j]) * count_i; the whole matrix is rescaled to sum to n (a
 *    no-op up to rounding since the rows already sum to the counts); then every row is rounded to
 *    integers while preserving its total (`internal.util.round_preserving_row_totals` /
 *    `round_preserving_sum`: round half to even, then add 1 to the entries rounded down the most, or
 *    subtract 1 from those rounded up the most, until the row total is met). These integer counts
 *    are cleanlab's calibrated confident joint; the joint Q is them divided by n
 *    (`count.estimate_joint`) and the noise-rate estimate is 1 - trace(Q) (`count.num_label_issues`,
 *    'off_diagonal_calibrated').
 * 4. Prune counts (`filter._keep_at_least_n_per_class` with n = 1 on the transposed matrix, then
 *    `filter._reduce_prune_counts` with frac_noise = 1): for each given class i whose calibrated
 *    diagonal count is 0, the diagonal is raised to 1 and that increase is taken uniformly off the
 *    row: every entry loses 1 / max(nonzero entries of the row - 1, 1) (the "- 1" assumes a nonzero
 *    diagonal, cleanlab's quirk: here the diagonal is 0, so the divisor is one too small), negative
 *    results become 0; finally all entries are truncated to integers (numpy astype(int)). The
 *    off-diagonal entry R[i][j] is the number of samples to remove from cell (given i, true j).
 * 5. Prune by noise rate (`filter._prune_by_count`): a class with at most 1 labelled sample is left
 *    alone. Otherwise, for each j != i with R[i][j] > 0, the R[i][j] samples labelled i with the
 *    largest margin P[s][j] - P[s][i] for that specific j are flagged (per-cell, not one ranking
 *    per class); a sample is flagged when any cell picks it (union over j).
 * 6. Un-flag near-predicted labels (`count._reduce_issues`, applied by `find_label_issues` for this
 *    filter): a flagged sample is cleared when its given label is the argmax of its row after adding
 *    1e-6 to the given label's probability (argmax = first index on ties), i.e. when no other class
 *    beats the given one by at least 1e-6.
 *
 * Outputs beyond the mask: `suggested` is the argmax class of P for a flagged sample (never a class
 * the model finds less likely than the given one; by step 6 it differs from the given label) and
 * the given label otherwise; `margin` is max_{j != y} P[j] - P[y] per sample (for a flagged sample,
 * P[suggested] - P[given]), the negative of cleanlab's 'normalized_margin' ranking score, used by the
 * caller to rank flags.
 *
 * Sums are numpy's pairwise summation in numpy's order (the calibration's total column by column,
 * as cleanlab's matrix is a transposed view), so thresholds and the calibrated matrix are the same
 * float64 values cleanlab computes from the same float64 probabilities.
 *
 * Deliberate differences:
 * - Ties (equal margins in step 5, equal rounding residuals in step 3) are broken as a stable
 *   argsort would: step 5 takes the lower sample index first; step 3 subtracts from the lower column
 *   first and adds to the higher column first (cleanlab reverses the ascending argsort there).
 *   cleanlab calls numpy's default argsort, whose tie order is not stable and depends on the CPU's
 *   SIMD sort. Checked against cleanlab's own code (filter.py/count.py at commit 7506257, numpy
 *   2.4): with numpy's argsort forced stable, masks and matrices were identical on 425 random
 *   problems (n up to 17,000, K up to 101); with numpy's default argsort on an AVX2 machine, 55 of
 *   318,801 flags differed in the 30 large problems, all through tied rounding residuals (e.g. two
 *   cells with the same confident count).
 * - The inputs are float32; cleanlab would compute in float32 if given float32 arrays. Here every
 *   step is float64 on the float32 values (as cleanlab on `pred_probs.astype(float64)`).
 * - cleanlab refuses labels with fewer than 2 distinct classes; here that case simply runs, and a
 *   label outside 0..K-1 is an error.
 */

export interface ConfidentLearningResult {
  flagged: Uint8Array
  /** Suggested class: the argmax of P for flagged samples, the given one otherwise. */
  suggested: Int32Array
  /** Margin max_{j != y} P[j] - P[y] per sample (higher = more certainly mislabelled). */
  margin: Float32Array
  /** Per-class confidence thresholds t_j (step 1). */
  thresholds: number[]
  /** Confident joint C[given][true] before calibration, diagonal clipped at 1 (step 2). */
  confidentJoint: number[][]
  /** Calibrated confident joint: integer counts, row i sums to the number labelled i (step 3). */
  calibratedJoint: number[][]
  /** Calibrated joint Q of (given, true), sums to 1 (step 3). */
  joint: number[][]
  /** Estimated fraction of wrong labels, 1 - trace(Q). */
  noiseRate: number
  /** Samples to remove per cell [given][true] (step 4; the diagonal is what is kept). */
  pruneCounts: number[][]
  /** Flags per given class (after the union over cells and the un-flagging of step 6). */
  prunePerClass: number[]
}

/** cleanlab's FLOATING_POINT_COMPARISON. */
const EPS = 1e-6
/** cleanlab's CONFIDENT_THRESHOLDS_LOWER_BOUND. */
const THRESHOLD_FLOOR = 2 * EPS
/** Threshold of a class nobody is labelled with (cleanlab's BIG_VALUE). */
const ABSENT_THRESHOLD = 2
/** cleanlab's min_examples_per_class default. */
const MIN_PER_CLASS = 1

/** numpy's round: half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x)
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r
}

/**
 * numpy's pairwise summation of a[lo, lo + len) (the order np.sum and np.mean add in), so that
 * thresholds and the calibration's total match cleanlab's to the last bit.
 */
function pairwiseSum(a: Float64Array, lo: number, len: number): number {
  if (len < 8) {
    let r = -0
    for (let i = 0; i < len; i++) r += a[lo + i]!
    return r
  }
  if (len <= 128) {
    const r = a.slice(lo, lo + 8)
    let i = 8
    for (; i < len - (len % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[lo + i + j]!
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!))
    for (; i < len; i++) res += a[lo + i]!
    return res
  }
  let half = Math.floor(len / 2)
  half -= half % 8
  return pairwiseSum(a, lo, half) + pairwiseSum(a, lo + half, len - half)
}

/** Rounds a row to integers keeping its (rounded) total, as cleanlab's round_preserving_sum. */
function roundPreservingSum(row: number[]): number[] {
  const ints = row.map(roundHalfEven)
  const target = roundHalfEven(row.reduce((a, b) => a + b, 0))
  let total = ints.reduce((a, b) => a + b, 0)
  while (Math.abs(total - target) > EPS) {
    const diff = target - total
    const inc = diff < 0 ? -1 : 1
    const changes = Math.min(Math.abs(diff), row.length)
    const residual = row.map((v, j) => v - ints[j]!)
    // Ascending residual, ties by column (a stable argsort); reversed when adding.
    const order = row.map((_, j) => j).sort((a, b) => residual[a]! - residual[b]! || a - b)
    if (inc > 0) order.reverse()
    for (let r = 0; r < changes; r++) ints[order[r]!]! += inc
    total = ints.reduce((a, b) => a + b, 0)
  }
  return ints
}

/** Runs confident learning on out-of-sample probabilities (see the module comment). */
export function confidentLearning(probs: Float32Array, y: Int32Array, k: number): ConfidentLearningResult {
  const n = y.length
  if (probs.length !== n * k) throw new Error(`confident learning: expected ${n} x ${k} probabilities, got ${probs.length}`)
  const byClass: number[][] = Array.from({ length: k }, () => [])
  for (let s = 0; s < n; s++) {
    const c = y[s]!
    if (!(c >= 0 && c < k)) throw new Error(`confident learning: label ${c} of sample ${s} is not in 0..${k - 1}`)
    byClass[c]!.push(s)
  }
  const count = byClass.map((m) => m.length)

  // 1. Thresholds.
  const thresholds = byClass.map((members, j) => {
    if (members.length === 0) return ABSENT_THRESHOLD
    const self = Float64Array.from(members, (s) => probs[s * k + j]!)
    return Math.max(pairwiseSum(self, 0, self.length) / members.length, THRESHOLD_FLOOR)
  })

  // 2. Confident joint.
  const confidentJoint: number[][] = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  for (let s = 0; s < n; s++) {
    const o = s * k
    let confident = 0
    let only = -1
    let arg = 0
    for (let j = 0; j < k; j++) {
      const p = probs[o + j]!
      if (p >= thresholds[j]! - EPS) {
        confident++
        if (only < 0) only = j
      }
      if (p > probs[o + arg]!) arg = j
    }
    if (confident === 0) continue
    confidentJoint[y[s]!]![confident === 1 ? only : arg]!++
  }
  for (let i = 0; i < k; i++) confidentJoint[i]![i] = Math.max(confidentJoint[i]![i]!, 1)

  // 3. Calibration, rounded per row preserving the row totals.
  const scaled = confidentJoint.map((row, i) => {
    const rs = Math.max(
      row.reduce((a, b) => a + b, 0),
      1e-100,
    )
    return row.map((v) => (v / rs) * count[i]!)
  })
  // Column by column: cleanlab's matrix is a transposed (Fortran-ordered) view and numpy sums it in
  // memory order.
  const flat = new Float64Array(k * k)
  scaled.forEach((row, i) => row.forEach((v, j) => (flat[j * k + i] = v)))
  const total = Math.max(pairwiseSum(flat, 0, flat.length), 1e-100)
  const calibratedJoint = scaled.map((row) => roundPreservingSum(row.map((v) => (v / total) * n)))
  const calTotal = Math.max(
    calibratedJoint.reduce((a, row) => a + row.reduce((b, v) => b + v, 0), 0),
    1e-100,
  )
  const joint = calibratedJoint.map((row) => row.map((v) => v / calTotal))
  let trace = 0
  for (let i = 0; i < k; i++) trace += joint[i]![i]!

  // 4. Prune counts: keep at least MIN_PER_CLASS on the diagonal, taking the increase off the row.
  const pruneCounts = calibratedJoint.map((row, i) => {
    const diag = row[i]!
    const raised = Math.max(diag, MIN_PER_CLASS)
    const nonzero = row.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0)
    const cut = (raised - diag) / Math.max(nonzero - 1, 1)
    return row.map((v, j) => (j === i ? raised : Math.trunc(Math.max(v - cut, 0))))
  })

  // 5. Prune by noise rate, per cell (given i, true j), union over j.
  const flagged = new Uint8Array(n)
  for (let i = 0; i < k; i++) {
    const members = byClass[i]!
    if (members.length <= MIN_PER_CLASS) continue
    const cell = new Float64Array(members.length)
    for (let j = 0; j < k; j++) {
      const m = Math.min(pruneCounts[i]![j]!, members.length)
      if (j === i || m <= 0) continue
      members.forEach((s, r) => (cell[r] = probs[s * k + j]! - probs[s * k + i]!))
      // The m largest margins: all above the m-th largest value, then ties at it by sample index.
      const cut = cell.slice().sort()[members.length - m]!
      let taken = 0
      for (let r = 0; r < members.length; r++) {
        if (cell[r]! > cut) {
          flagged[members[r]!] = 1
          taken++
        }
      }
      for (let r = 0; r < members.length && taken < m; r++) {
        if (cell[r] === cut) {
          flagged[members[r]!] = 1
          taken++
        }
      }
    }
  }

  // 6. Un-flag samples whose given label is (within 1e-6 of) the most probable class.
  const suggested = new Int32Array(n)
  const margin = new Float32Array(n)
  const prunePerClass = new Array<number>(k).fill(0)
  for (let s = 0; s < n; s++) {
    const o = s * k
    const yi = y[s]!
    let pred = 0
    let best = -Infinity
    let other = -Infinity
    for (let j = 0; j < k; j++) {
      const p = probs[o + j]!
      const boosted = j === yi ? p + EPS : p
      if (boosted > best) {
        best = boosted
        pred = j
      }
      if (j !== yi && p > other) other = p
    }
    // With a single class there is no other class: margin -Infinity would rank nothing, use -1.
    margin[s] = k > 1 ? other - probs[o + yi]! : -1
    if (pred === yi) flagged[s] = 0
    suggested[s] = flagged[s] ? pred : yi
    if (flagged[s]) prunePerClass[yi]!++
  }

  return { flagged, suggested, margin, thresholds, confidentJoint, calibratedJoint, joint, noiseRate: 1 - trace, pruneCounts, prunePerClass }
}
