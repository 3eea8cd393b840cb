import { test } from 'node:test'
import assert from 'node:assert/strict'
import { confidentLearning } from '../../../electron/engine/train/cl.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

// ---------------------------------------------------------------------------------------------
// Reference: cleanlab 2.x `filter.find_label_issues(labels, pred_probs,
// filter_by='prune_by_noise_rate')`, transcribed function by function from cleanlab's Python
// (count.get_confident_thresholds, count.compute_confident_joint, count.calibrate_confident_joint,
// internal.util.round_preserving_sum, filter._keep_at_least_n_per_class, filter._prune_by_count,
// count._reduce_issues), on plain nested arrays, keeping cleanlab's transposed prune matrix
// (rows = true class, columns = given class). numpy's argsort is replaced by a stable one (ties in
// cleanlab's own argsort are implementation-defined), np.sum by numpy's pairwise summation.
// ---------------------------------------------------------------------------------------------

/** numpy's np.round: half to even. */
function npRound(x: number): number {
  const f = Math.floor(x)
  const d = x - f
  if (d < 0.5) return f
  if (d > 0.5) return f + 1
  return f % 2 === 0 ? f : f + 1
}

/** numpy's pairwise np.add.reduce over a contiguous float64 array. */
function npSum(a: number[]): number {
  if (a.length < 8) {
    let s = 0
    for (const v of a) s += v
    return s
  }
  if (a.length <= 128) {
    const acc = a.slice(0, 8)
    let i = 8
    const whole = a.length - (a.length % 8)
    while (i < whole) {
      for (let j = 0; j < 8; j++) acc[j] = acc[j]! + a[i + j]!
      i += 8
    }
    let s = acc[0]! + acc[1]! + (acc[2]! + acc[3]!) + (acc[4]! + acc[5]! + (acc[6]! + acc[7]!))
    while (i < a.length) s += a[i++]!
    return s
  }
  let half = Math.floor(a.length / 2)
  half -= half % 8
  return npSum(a.slice(0, half)) + npSum(a.slice(half))
}

/** np.argsort(values, kind='stable'). */
function argsortStable(values: number[]): number[] {
  return values.map((_, i) => i).sort((a, b) => (values[a]! < values[b]! ? -1 : values[a]! > values[b]! ? 1 : a - b))
}

/** np.argmax: first index of the maximum. */
function npArgmax(row: number[]): number {
  let best = 0
  for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j
  return best
}

function getConfidentThresholds(labels: number[], P: number[][], K: number): number[] {
  const t: number[] = []
  for (let k = 0; k < K; k++) {
    const own: number[] = []
    for (let i = 0; i < labels.length; i++) if (labels[i] === k) own.push(P[i]![k]!)
    t.push(own.length > 0 ? npSum(own) / own.length : 2) // BIG_VALUE for a missing class
  }
  return t.map((v) => Math.max(v, 2e-6)) // CONFIDENT_THRESHOLDS_LOWER_BOUND
}

function computeConfidentJoint(labels: number[], P: number[][], K: number, thresholds: number[]): number[][] {
  const cj = Array.from({ length: K }, () => Array.from({ length: K }, () => 0))
  for (let i = 0; i < labels.length; i++) {
    const bins = P[i]!.map((p, j) => p >= thresholds[j]! - 1e-6)
    const num = bins.filter(Boolean).length
    if (num === 0) continue // not confident of any class: not counted
    const guess = num === 1 ? bins.indexOf(true) : npArgmax(P[i]!)
    cj[labels[i]!]![guess]! += 1
  }
  for (let k = 0; k < K; k++) cj[k]![k] = Math.max(cj[k]![k]!, 1)
  return cj
}

function roundPreservingSum(floats: number[]): number[] {
  const ints = floats.map(npRound)
  const origSum = npRound(npSum(floats))
  let intSum = npRound(ints.reduce((a, b) => a + b, 0))
  while (Math.abs(intSum - origSum) > 1e-6) {
    const diff = npRound(origSum - intSum)
    const increment = diff < 0 ? -1 : 1
    const changes = Math.min(Math.floor(Math.abs(diff)), floats.length)
    let order = argsortStable(floats.map((f, i) => f - ints[i]!))
    if (increment === 1) order = order.reverse() // [::-increment]
    for (const i of order.slice(0, changes)) ints[i] = ints[i]! + increment
    intSum = npRound(ints.reduce((a, b) => a + b, 0))
  }
  return ints
}

function calibrateConfidentJoint(cj: number[][], labels: number[], K: number): number[][] {
  const labelCounts = Array.from({ length: K }, (_, k) => labels.filter((l) => l === k).length)
  const rowSums = cj.map((row) => row.reduce((a, b) => a + b, 0))
  let cal = cj.map((row, i) => row.map((v) => (v / Math.max(rowSums[i]!, 1e-100)) * labelCounts[i]!))
  // numpy stores this matrix transposed (Fortran order) and sums it in memory order: by column.
  const byColumn: number[] = []
  for (let j = 0; j < K; j++) for (let i = 0; i < K; i++) byColumn.push(cal[i]![j]!)
  const total = npSum(byColumn)
  const n = labelCounts.reduce((a, b) => a + b, 0)
  cal = cal.map((row) => row.map((v) => (v / Math.max(total, 1e-100)) * n))
  return cal.map(roundPreservingSum)
}

/** _keep_at_least_n_per_class on the TRANSPOSED matrix (rows true class, columns given class). */
function keepAtLeastNPerClass(pcm: number[][], n: number, K: number): number[][] {
  const newMat = pcm.map((row) => [...row])
  for (let c = 0; c < K; c++) {
    const diag = pcm[c]![c]!
    const newDiag = Math.max(diag, n)
    const diffPerCol = newDiag - diag
    let nonzero = 0
    for (let r = 0; r < K; r++) if (pcm[r]![c] !== 0) nonzero++
    const numNoiseRates = Math.max(nonzero - 1, 1)
    for (let r = 0; r < K; r++) {
      newMat[r]![c] = pcm[r]![c]! - diffPerCol / numNoiseRates
      if (newMat[r]![c]! < 0) newMat[r]![c] = 0
    }
    newMat[c]![c] = newDiag
  }
  // _reduce_prune_counts with frac_noise = 1 ends in astype(int); then round_preserving_row_totals.
  return newMat.map((row) => row.map((v) => Math.trunc(v))).map(roundPreservingSum)
}

function pruneByCount(k: number, probsK: number[][], pruneCol: number[], K: number): boolean[] {
  const mask = probsK.map(() => false)
  if (probsK.length <= 1) return mask // min_examples_per_class = 1
  for (let j = 0; j < K; j++) {
    const num2prune = pruneCol[j]!
    if (k !== j && num2prune > 0) {
      const negMargin = probsK.map((p) => -(p[j]! - p[k]!))
      const order = argsortStable(negMargin)
      for (const i of order.slice(0, num2prune)) mask[i] = true
    }
  }
  return mask
}

function reduceIssues(P: number[][], labels: number[]): boolean[] {
  return P.map((row, i) => {
    const copy = [...row]
    copy[labels[i]!] = copy[labels[i]!]! + 1e-6
    return npArgmax(copy) === labels[i]
  })
}

function referenceFindLabelIssues(P: number[][], labels: number[], K: number) {
  const thresholds = getConfidentThresholds(labels, P, K)
  const confidentJoint = computeConfidentJoint(labels, P, K, thresholds)
  const calibrated = calibrateConfidentJoint(confidentJoint, labels, K)
  const transposed = calibrated[0]!.map((_, c) => calibrated.map((row) => row[c]!))
  const pcm = keepAtLeastNPerClass(transposed, 1, K)
  const mask = labels.map(() => false)
  for (let k = 0; k < K; k++) {
    const idx: number[] = []
    for (let i = 0; i < labels.length; i++) if (labels[i] === k) idx.push(i)
    const classMask = pruneByCount(
      k,
      idx.map((i) => P[i]!),
      pcm.map((row) => row[k]!),
      K,
    )
    idx.forEach((i, r) => (mask[i] = classMask[r]!))
  }
  const beforeReduce = [...mask]
  const nearPredicted = reduceIssues(P, labels)
  for (let i = 0; i < labels.length; i++) if (nearPredicted[i]) mask[i] = false
  return { mask, beforeReduce, thresholds, confidentJoint, calibrated, pcm }
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

interface Synthetic {
  probs: Float32Array
  y: Int32Array
  truth: Int32Array
  k: number
}

/**
 * n samples of k classes: true class uniform (optionally one class never given), noisy label drawn
 * from row `truth` of a transition matrix, probabilities a softmax of noisy logits peaked at the
 * true class.
 */
function synthetic(seed: number, n: number, k: number, transition: number[][], strength: number, sigma: number): Synthetic {
  const rng = createRng(seed)
  const probs = new Float32Array(n * k)
  const y = new Int32Array(n)
  const truth = new Int32Array(n)
  for (let s = 0; s < n; s++) {
    const t = rng.int(k)
    truth[s] = t
    let u = rng.next()
    let g = 0
    while (g < k - 1 && u >= transition[t]![g]!) u -= transition[t]![g++]!
    y[s] = g
    const logits = Array.from({ length: k }, (_, j) => (j === t ? strength : 0) + sigma * rng.normal())
    const m = Math.max(...logits)
    const e = logits.map((l) => Math.exp(l - m))
    const z = e.reduce((a, b) => a + b, 0)
    e.forEach((v, j) => (probs[s * k + j] = v / z))
  }
  return { probs, y, truth, k }
}

/** A random transition matrix: keep the label with probability 1 - noise, else random weights. */
function randomTransition(seed: number, k: number, noise: number): number[][] {
  const rng = createRng(seed + 7777)
  return Array.from({ length: k }, (_, i) => {
    const w = Array.from({ length: k }, (_, j) => (j === i ? 0 : rng.next() ** 2))
    const z = w.reduce((a, b) => a + b, 0) || 1
    return w.map((v, j) => (j === i ? 1 - noise : (noise * v) / z))
  })
}

function symmetric(k: number, noise: number): number[][] {
  return Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => (i === j ? 1 - noise : noise / (k - 1))))
}

function rows(probs: Float32Array, k: number): number[][] {
  return Array.from({ length: probs.length / k }, (_, s) => Array.from(probs.subarray(s * k, s * k + k)))
}

function fromRows(r: number[][]): Float32Array {
  return Float32Array.from(r.flat())
}

function randomCases(): Synthetic[] {
  const cases: Synthetic[] = []
  for (let seed = 1; seed <= 40; seed++) {
    const rng = createRng(seed)
    const k = 2 + rng.int(seed % 4 === 0 ? 18 : 7)
    const n = seed % 5 === 0 ? 5 + rng.int(25) : 40 + rng.int(400)
    const noise = 0.05 + 0.6 * rng.next()
    cases.push(synthetic(seed, n, k, randomTransition(seed, k, noise), 1 + 2 * rng.next(), 0.5 + 1.5 * rng.next()))
  }
  return cases
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

test('confident learning matches an independent step-by-step transcription of cleanlab on random seeded data', () => {
  let flags = 0
  let unflagged = 0
  for (const [c, d] of randomCases().entries()) {
    const r = confidentLearning(d.probs, d.y, d.k)
    const ref = referenceFindLabelIssues(rows(d.probs, d.k), [...d.y], d.k)
    assert.deepEqual(r.thresholds, ref.thresholds, `case ${c}: thresholds`)
    assert.deepEqual(r.confidentJoint, ref.confidentJoint, `case ${c}: confident joint`)
    assert.deepEqual(r.calibratedJoint, ref.calibrated, `case ${c}: calibrated joint`)
    for (let i = 0; i < d.k; i++) {
      for (let j = 0; j < d.k; j++) assert.equal(r.pruneCounts[i]![j], ref.pcm[j]![i], `case ${c}: prune count (${i}, ${j})`)
    }
    assert.deepEqual(
      [...r.flagged],
      ref.mask.map((m) => (m ? 1 : 0)),
      `case ${c}: flagged mask`,
    )
    flags += ref.mask.filter(Boolean).length
    unflagged += ref.beforeReduce.filter((b, i) => b && !ref.mask[i]).length
  }
  // The comparison is not vacuous: many flags, and the un-flag step changed some.
  assert.ok(flags > 500, `${flags} flags over the random cases`)
  assert.ok(unflagged > 0, 'the near-predicted un-flag step never fired')
})

test('confident learning reproduces the mask cleanlab 2.x itself computed on a fixed 48 x 4 case', () => {
  // Computed with cleanlab's filter.find_label_issues(filter_by='prune_by_noise_rate') on these
  // probabilities (as float32), no ties, so numpy's argsort order does not matter.
  const p = `.215 .042 .487 .256 .022 .109 .550 .318 .116 .051 .801 .032 .010 .800 .063 .128 .007 .916 .010 .067 .634 .038 .103 .225
    .931 .036 .017 .016 .838 .112 .035 .014 .917 .009 .015 .059 .007 .094 .036 .864 .034 .045 .903 .017 .087 .043 .049 .821
    .123 .130 .734 .013 .157 .083 .527 .233 .033 .021 .020 .926 .071 .187 .600 .141 .345 .268 .097 .290 .064 .069 .801 .066
    .287 .146 .380 .187 .026 .169 .043 .762 .048 .817 .110 .025 .369 .246 .083 .302 .161 .072 .691 .076 .971 .012 .014 .003
    .131 .769 .073 .026 .154 .089 .114 .643 .041 .502 .316 .141 .767 .027 .143 .063 .012 .032 .012 .943 .350 .153 .430 .067
    .044 .014 .011 .931 .532 .088 .098 .283 .690 .060 .022 .228 .303 .084 .159 .453 .333 .174 .050 .442 .032 .127 .715 .126
    .350 .017 .012 .621 .184 .322 .104 .391 .012 .919 .053 .017 .107 .768 .085 .039 .052 .938 .004 .005 .736 .135 .016 .113
    .924 .015 .049 .013 .828 .014 .008 .150 .780 .026 .108 .085 .088 .012 .828 .071 .029 .068 .304 .599 .082 .105 .695 .117`
  const probs = Float32Array.from(p.trim().split(/\s+/), Number)
  const y = Int32Array.from('323210000323233222231320032031300301010110020223', Number)
  const r = confidentLearning(probs, y, 4)
  assert.deepEqual(r.confidentJoint, [
    [9, 2, 0, 1],
    [0, 4, 1, 0],
    [1, 1, 7, 1],
    [0, 0, 4, 7],
  ])
  assert.deepEqual(r.calibratedJoint, [
    [11, 3, 0, 1],
    [0, 6, 1, 0],
    [1, 1, 9, 2],
    [0, 0, 5, 8],
  ])
  const flagged = [...r.flagged].flatMap((f, i) => (f ? [i] : []))
  assert.deepEqual(flagged, [0, 2, 3, 13, 16, 21, 24, 34, 35, 36, 38, 43, 46, 47])
})

test('per-cell pruning: flags the best candidate of each (given, true) cell, not the top of one ranking per class', () => {
  // Class 0 has six samples. A is confidently class 1, C confidently class 2. B leans to class 1
  // (p1 = 0.7) but below class 1's threshold (0.825), so it is not counted in the confident joint.
  // The calibrated joint row 0 is [4, 1, 1]: remove one sample from cell (0, 1) and one from (0, 2).
  // The old rule ranked all class-0 samples by max_{j != 0} p_j - p_0 and flagged the top two:
  // A (0.85) and B (0.5), leaving C (0.3). cleanlab prunes each cell on its own margin: cell (0, 1)
  // by p1 - p0 takes A, cell (0, 2) by p2 - p0 takes C. cleanlab 2.x gives [3, 5] on this input.
  const probs = fromRows([
    [0.8, 0.1, 0.1],
    [0.8, 0.1, 0.1],
    [0.7, 0.2, 0.1],
    [0.05, 0.9, 0.05], // A
    [0.2, 0.7, 0.1], // B
    [0.3, 0.1, 0.6], // C
    [0.1, 0.8, 0.1],
    [0.1, 0.85, 0.05],
    [0.05, 0.9, 0.05],
    [0.1, 0.75, 0.15],
    [0.2, 0.2, 0.6],
    [0.2, 0.25, 0.55],
    [0.2, 0.15, 0.65],
    [0.25, 0.2, 0.55],
  ])
  const y = Int32Array.from([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
  const r = confidentLearning(probs, y, 3)
  assert.deepEqual(r.confidentJoint, [
    [3, 1, 1],
    [0, 2, 0],
    [0, 0, 2],
  ])
  assert.deepEqual(r.calibratedJoint[0], [4, 1, 1])
  assert.deepEqual(
    [...r.flagged].flatMap((f, i) => (f ? [i] : [])),
    [3, 5],
  )
  assert.equal(r.suggested[3], 1)
  assert.equal(r.suggested[5], 2)
  assert.equal(r.suggested[4], 0) // B keeps its label
  assert.deepEqual(r.prunePerClass, [2, 0, 0])
})

test('confident learning never flags a sample whose given label is (within 1e-6 of) the most probable class', () => {
  // Class 0 is usually very confident (threshold 0.83), class 1 is not (threshold 0.4). X = (0.55,
  // 0.45) and Y = (0.5, 0.5000004) are below class 0's threshold and above class 1's, so both land in
  // cell (0, 1) of the confident joint, and that cell says remove 2. But the model still prefers
  // class 0 for X, and prefers class 1 for Y only by 4e-7 < 1e-6: cleanlab's _reduce_issues un-flags
  // both (cleanlab 2.x flags nothing here). The old rule flagged both, suggesting class 1 for X
  // although the model finds it less likely than the given class.
  const probs = fromRows([
    ...Array.from({ length: 5 }, () => [0.95, 0.05]),
    [0.55, 0.45], // X
    [0.5, 0.5000004], // Y
    ...Array.from({ length: 4 }, () => [0.6, 0.4]),
  ])
  const y = Int32Array.from([0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
  const r = confidentLearning(probs, y, 2)
  assert.deepEqual(r.calibratedJoint, [
    [5, 2],
    [0, 4],
  ])
  assert.equal(r.pruneCounts[0]![1], 2)
  assert.deepEqual([...r.flagged], new Array(11).fill(0))
  assert.deepEqual([...r.suggested], [...y])

  // And on the random cases: every flagged sample's suggestion is the argmax, beats the given label
  // by at least 1e-6, and margin = p(suggested) - p(given).
  for (const d of randomCases()) {
    const r2 = confidentLearning(d.probs, d.y, d.k)
    for (let s = 0; s < d.y.length; s++) {
      const row = d.probs.subarray(s * d.k, s * d.k + d.k)
      const g = d.y[s]!
      if (!r2.flagged[s]) {
        assert.equal(r2.suggested[s], g)
        continue
      }
      const top = row.indexOf(Math.max(...row))
      assert.notEqual(top, g)
      assert.equal(r2.suggested[s], top)
      assert.ok(row[top]! >= row[g]! + 1e-6)
      assert.equal(r2.margin[s], Math.fround(row[top]! - row[g]!))
    }
  }
})

test("confident counting allows cleanlab's 1e-6 slack below a threshold (p >= t - 1e-6)", () => {
  // Class 1's threshold is exactly 0.5. W = (0.4999996, 0.4999996) is 4e-7 below it and still counts
  // in cell (0, 1), as V = (0.5000004, 0.5) does: confident joint [[3, 2], [0, 4]] (cleanlab 2.x).
  // Neither is flagged: class 0 is (within 1e-6 of) their most probable class.
  const probs = fromRows([
    [0.9, 0.1],
    [0.9, 0.1],
    [0.9, 0.1],
    [0.4999996, 0.4999996],
    [0.5000004, 0.5],
    ...Array.from({ length: 4 }, () => [0.5, 0.5]),
  ])
  const r = confidentLearning(probs, Int32Array.from([0, 0, 0, 0, 0, 1, 1, 1, 1]), 2)
  assert.equal(r.thresholds[1], 0.5)
  assert.deepEqual(r.confidentJoint, [
    [3, 2],
    [0, 4],
  ])
  assert.deepEqual([...r.flagged], new Array(9).fill(0))
})

test('confident learning keeps at least one sample per class even when the joint says every label of it is wrong', () => {
  // Class 0 (5 samples): three confidently class 1, two confidently class 2; its calibrated row is
  // [1, 2, 2] (the confident joint's diagonal is clipped to 1 before calibration), so 4 go and the
  // least certain one (p1 - p0 = 0.7) stays. cleanlab 2.x flags [0, 1, 3, 4].
  const others = [...Array.from({ length: 4 }, () => [0.1, 0.8, 0.1]), ...Array.from({ length: 4 }, () => [0.1, 0.1, 0.8])]
  const otherLabels = [1, 1, 1, 1, 2, 2, 2, 2]
  const a = confidentLearning(
    fromRows([[0.1, 0.85, 0.05], [0.05, 0.9, 0.05], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.05, 0.15, 0.8], ...others]),
    Int32Array.from([0, 0, 0, 0, 0, ...otherLabels]),
    3,
  )
  assert.deepEqual(a.calibratedJoint[0], [1, 2, 2])
  assert.deepEqual(
    [...a.flagged].flatMap((f, i) => (f ? [i] : [])),
    [0, 1, 3, 4],
  )

  // Class 0 (2 samples), one confidently class 1, one confidently class 2: the calibrated row
  // [2/3, 2/3, 2/3] rounds to [0, 1, 1] (the tie goes to the first column), a diagonal of 0 that
  // _keep_at_least_n_per_class raises to 1, taking 1 off each off-diagonal cell: nothing pruned.
  const b = confidentLearning(fromRows([[0.1, 0.85, 0.05], [0.05, 0.1, 0.85], ...others]), Int32Array.from([0, 0, ...otherLabels]), 3)
  assert.deepEqual(b.calibratedJoint[0], [0, 1, 1])
  assert.deepEqual(b.pruneCounts[0], [1, 0, 0])
  assert.equal(b.flagged[0]! + b.flagged[1]!, 0)

  // Class 0 (3 samples), each confidently a different class of 4: the calibrated row [3/4 x 4] rounds
  // to [1, 1, 1, 1], one too many; the tie takes 1 off the first column, the diagonal, giving
  // [0, 1, 1, 1]. Raising the diagonal to 1 takes 1 / (3 nonzero - 1) = 0.5 off each other cell and
  // numpy's astype(int) truncates 0.5 to 0: nothing pruned (cleanlab 2.x: no flags).
  const four = [...[0, 1, 2].flatMap((c) => Array.from({ length: 3 }, () => [0.1, 0.1, 0.1, 0.1].map((v, j) => (j === c + 1 ? 0.7 : v))))]
  const d4 = confidentLearning(
    fromRows([[0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1], [0.1, 0.1, 0.1, 0.7], ...four]),
    Int32Array.from([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]),
    4,
  )
  assert.deepEqual(d4.calibratedJoint[0], [0, 1, 1, 1])
  assert.deepEqual(d4.pruneCounts[0], [1, 0, 0, 0])
  assert.deepEqual([...d4.flagged], new Array(12).fill(0))

  // A class with a single sample is never pruned.
  const c = confidentLearning(fromRows([[0.1, 0.85, 0.05], ...others]), Int32Array.from([0, ...otherLabels]), 3)
  assert.equal(c.flagged[0], 0)

  // Random data with heavy noise: every class that has samples keeps at least one.
  for (let seed = 100; seed < 110; seed++) {
    const d = synthetic(seed, 60 + seed, 6, randomTransition(seed, 6, 0.85), 3, 0.7)
    const r = confidentLearning(d.probs, d.y, d.k)
    for (let c2 = 0; c2 < d.k; c2++) {
      const members = [...d.y.keys()].filter((s) => d.y[s] === c2)
      if (members.length > 0)
        assert.ok(
          members.some((s) => !r.flagged[s]),
          `seed ${seed}: class ${c2} fully flagged`,
        )
    }
  }
})

test('confident learning on 10 classes with 50% symmetric noise: more precise than flagging every argmax disagreement', () => {
  const d = synthetic(2024, 3000, 10, symmetric(10, 0.5), 2.5, 1)
  const r = confidentLearning(d.probs, d.y, d.k)
  let tp = 0
  let fp = 0
  let atp = 0
  let afp = 0
  let wrong = 0
  for (let s = 0; s < d.y.length; s++) {
    const bad = d.y[s] !== d.truth[s]
    if (bad) wrong++
    const row = d.probs.subarray(s * d.k, s * d.k + d.k)
    if (row.indexOf(Math.max(...row)) !== d.y[s]) {
      if (bad) atp++
      else afp++
    }
    if (r.flagged[s]) {
      if (bad) tp++
      else fp++
    }
  }
  const precision = tp / (tp + fp)
  const argmaxPrecision = atp / (atp + afp)
  const recall = tp / wrong
  assert.ok(precision > argmaxPrecision + 0.05, `CL precision ${precision} vs argmax-disagreement precision ${argmaxPrecision}`)
  assert.ok(recall > 0.8, `CL recall ${recall}`)
  assert.ok(Math.abs(r.noiseRate - wrong / d.y.length) < 0.1, `noise-rate estimate ${r.noiseRate}, actual ${wrong / d.y.length}`)
})

test('confident learning: thresholds, confident joint, calibrated joint and pruning on a worked example', () => {
  // 2 classes, 6 samples. Out-of-sample probability of class 1 per sample:
  const p1 = [0.1, 0.2, 0.9, 0.8, 0.7, 0.3]
  const y = Int32Array.from([0, 0, 0, 1, 1, 1])
  const probs = new Float32Array(12)
  p1.forEach((p, i) => {
    probs[i * 2] = 1 - p
    probs[i * 2 + 1] = p
  })
  const r = confidentLearning(probs, y, 2)
  // t0 = mean P0 over label-0 samples = (0.9 + 0.8 + 0.1) / 3 = 0.6; t1 = (0.8 + 0.7 + 0.3) / 3 = 0.6.
  assert.ok(Math.abs(r.thresholds[0]! - 0.6) < 1e-6 && Math.abs(r.thresholds[1]! - 0.6) < 1e-6)
  // Confident classes: s0 -> 0 (0.9), s1 -> 0 (0.8), s2 -> 1 (0.9), s3 -> 1, s4 -> 1 (0.7), s5 -> 0 (0.7).
  assert.deepEqual(r.confidentJoint, [
    [2, 1],
    [1, 2],
  ])
  // Rows already sum to the label counts (3 each): joint = C / 6; noise rate = 2/6.
  assert.deepEqual(r.calibratedJoint, r.confidentJoint)
  assert.ok(Math.abs(r.noiseRate - 1 / 3) < 1e-9)
  assert.ok(Math.abs(r.joint.flat().reduce((a, b) => a + b, 0) - 1) < 1e-12)
  // Prune 1 per off-diagonal cell: the largest margin p_other - p_given in each class.
  assert.deepEqual([...r.flagged], [0, 0, 1, 0, 0, 1])
  assert.deepEqual([...r.suggested], [0, 0, 1, 1, 1, 0])
  assert.deepEqual(r.prunePerClass, [1, 1])
})

test('confident learning rejects a probability matrix of the wrong size and out-of-range labels', () => {
  assert.throws(() => confidentLearning(new Float32Array(5), Int32Array.from([0, 1]), 3), /expected 2 x 3 probabilities, got 5/)
  assert.throws(() => confidentLearning(new Float32Array(6), Int32Array.from([0, 3]), 3), /label 3 of sample 1 is not in 0..2/)
})
