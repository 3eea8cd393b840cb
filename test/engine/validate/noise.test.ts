import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import {
  classCorrelation,
  classIdentifiability,
  completeLinkage,
  injectNoise,
  isIdentifiable,
  superclassGroups,
  transitionMatrix,
} from '../../../electron/engine/validate/noise.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'
import type { FeatureMatrix } from '../../../electron/engine/train/types.ts'

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`)

test('transition matrices follow the BENCHMARKS.md formulas and are row-stochastic', () => {
  const k = 5
  const eta = 0.4
  const s = transitionMatrix('symmetric', k, eta)
  const a = transitionMatrix('asymmetric', k, eta)
  const g = transitionMatrix('superclass', k, eta, [[0, 2, 4], [1], [3]])
  for (let r = 0; r < k; r++) {
    for (const c of [s, a, g])
      close(
        c[r]!.reduce((x, y) => x + y, 0),
        1,
      )
    close(s[r]![r]!, 0.6)
    close(a[r]![r]!, 0.6)
    for (let j = 0; j < k; j++) {
      if (j === r) continue
      close(s[r]![j]!, 0.1)
      close(a[r]![j]!, j === (r + 1) % k ? 0.16 : 0.08)
    }
  }
  // superclass: eta split over the other members; singletons keep their label
  assert.deepEqual(g[0], [0.6, 0, 0.2, 0, 0.2])
  assert.deepEqual(g[1], [0, 1, 0, 0, 0])
  assert.deepEqual(g[3], [0, 0, 0, 1, 0])
})

test('empirical flip rates match C within binomial tolerance', () => {
  const k = 4
  const perClass = 20000
  const y = new Int32Array(k * perClass)
  for (let i = 0; i < y.length; i++) y[i] = i % k
  const groups = [[0, 1, 2], [3]]
  for (const type of ['symmetric', 'asymmetric', 'superclass'] as const) {
    const eta = 0.5
    const c = transitionMatrix(type, k, eta, groups)
    const noisy = injectNoise(y, k, { type, rate: eta, seed: 7, groups })
    const counts = Array.from({ length: k }, () => new Array<number>(k).fill(0))
    for (let i = 0; i < y.length; i++) counts[y[i]!]![noisy[i]!]!++
    for (let a = 0; a < k; a++) {
      for (let b = 0; b < k; b++) {
        const p = c[a]![b]!
        const phat = counts[a]![b]! / perClass
        // 5 standard errors of a binomial proportion (plus a hair for p = 0 or 1)
        const tol = 5 * Math.sqrt((p * (1 - p)) / perClass) + 1e-9
        assert.ok(Math.abs(phat - p) <= tol, `${type} C[${a}][${b}] = ${p}, observed ${phat}`)
      }
    }
  }
})

test('injection is deterministic per seed, differs across seeds, keeps unlabelled samples', () => {
  const y = new Int32Array(1000).map((_, i) => (i % 7 === 0 ? -1 : i % 3))
  const a = injectNoise(y, 3, { type: 'symmetric', rate: 0.3, seed: 1 })
  const b = injectNoise(y, 3, { type: 'symmetric', rate: 0.3, seed: 1 })
  const c = injectNoise(y, 3, { type: 'symmetric', rate: 0.3, seed: 2 })
  assert.deepEqual(a, b)
  assert.notDeepEqual(a, c)
  for (let i = 0; i < y.length; i++) if (y[i] === -1) assert.equal(a[i], -1)
  assert.deepEqual(injectNoise(y, 3, { type: 'symmetric', rate: 0, seed: 3 }), y)
})

test('bad noise parameters give clear errors', () => {
  assert.throws(() => transitionMatrix('symmetric', 3, 1.5), /rate must be in \[0, 1\]/)
  assert.throws(() => transitionMatrix('superclass', 3, 0.5), /needs class groups/)
  assert.throws(() => transitionMatrix('superclass', 3, 0.5, [[0, 5]]), /class 5 is outside/)
  assert.throws(() => injectNoise(new Int32Array([0, 3]), 3, { type: 'symmetric', rate: 0.1, seed: 0 }), /label 3 at sample 1/)
})

test('identifiability: superclass 0.8 on a 4-class group is not, on a 6-class group it is', () => {
  const groups = [
    [0, 1, 2, 3, 4, 6],
    [5, 7, 8, 9],
  ]
  const c = transitionMatrix('superclass', 10, 0.8, groups)
  const rows = classIdentifiability(c)
  assert.equal(isIdentifiable(c), false)
  for (const k of [5, 7, 8, 9]) {
    assert.equal(rows[k]!.identifiable, false)
    close(rows[k]!.worstProb, 0.8 / 3)
    close(rows[k]!.keep, 0.2, 1e-12)
  }
  for (const k of [0, 1, 2, 3, 4, 6]) assert.equal(rows[k]!.identifiable, true) // 0.16 < 0.2
  assert.equal(isIdentifiable(transitionMatrix('symmetric', 10, 0.8)), true) // 0.2 > 0.8/9
  assert.equal(isIdentifiable(transitionMatrix('symmetric', 10, 0.9)), false) // 0.1 vs 0.1: a tie
  assert.equal(isIdentifiable(transitionMatrix('asymmetric', 10, 0.5)), true) // 0.5 > 0.1
})

test('asymmetric identifiability boundary: 1 - eta > 2 eta / K', () => {
  // K = 10: 1 - eta > eta / 5  <=>  eta < 5/6
  assert.equal(isIdentifiable(transitionMatrix('asymmetric', 10, 0.8)), true)
  assert.equal(isIdentifiable(transitionMatrix('asymmetric', 10, 0.85)), false)
})

test('class correlation equals the mean pairwise cosine of centred samples (brute force)', () => {
  const rng = createRng(3)
  const n = 60
  const d = 5
  const k = 3
  const data = new Float32Array(n * d).map(() => rng.normal() + 0.5)
  const y = new Int32Array(n).map((_, i) => i % k)
  const m = classCorrelation({ data, n, d }, y, k)
  const mean = new Array<number>(d).fill(0)
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += data[i * d + j]! / n
  const row = (i: number) => Array.from({ length: d }, (_, j) => data[i * d + j]! - mean[j]!)
  const cos = (a: number[], b: number[]) => {
    let ab = 0
    let aa = 0
    let bb = 0
    for (let j = 0; j < d; j++) {
      ab += a[j]! * b[j]!
      aa += a[j]! ** 2
      bb += b[j]! ** 2
    }
    return ab / Math.sqrt(aa * bb)
  }
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      let s = 0
      let cnt = 0
      for (let i = 0; i < n; i++) {
        if (y[i] !== a) continue
        for (let j = 0; j < n; j++) {
          if (y[j] !== b) continue
          s += cos(row(i), row(j))
          cnt++
        }
      }
      close(m[a]![b]!, s / cnt, 1e-6)
    }
  }
})

test('complete linkage merges by the largest member distance (hand-worked example)', () => {
  // Points on a line at 0, 1, 5, 6.5, 20: {0,1} at 1, {5,6.5} at 1.5, then {0,1,5,6.5} at 6.5
  // (complete: max(|0-6.5|)), then everything at 20.
  const merges = completeLinkage([[0], [1], [5], [6.5], [20]])
  assert.deepEqual(
    merges.map((m) => [[...m.left, ...m.right].sort((a, b) => a - b), m.height]),
    [
      [[0, 1], 1],
      [[2, 3], 1.5],
      [[0, 1, 2, 3], 6.5],
      [[0, 1, 2, 3, 4], 20],
    ],
  )
})

/** Gaussian clusters: each class centre is its group's centre plus a smaller class offset. */
function plantedGroups(groups: number[][], perClass: number, d: number, seed: number) {
  const rng = createRng(seed)
  const k = groups.flat().length
  const groupCentre = groups.map(() => Array.from({ length: d }, () => 4 * rng.normal()))
  const classCentre: number[][] = new Array(k)
  groups.forEach((g, gi) => {
    for (const c of g) classCentre[c] = groupCentre[gi]!.map((v) => v + 0.8 * rng.normal())
  })
  const n = k * perClass
  const data = new Float32Array(n * d)
  const y = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const c = i % k
    y[i] = c
    for (let j = 0; j < d; j++) data[i * d + j] = classCentre[c]![j]! + rng.normal()
  }
  return { x: { data, n, d } as FeatureMatrix, y, k }
}

test('superclass grouping recovers planted groups', () => {
  // Two groups, as on Fashion-MNIST: the cut at 0.8 of the top merge separates groups that are
  // far apart relative to the spread inside them.
  for (const seed of [11, 12, 13]) {
    const { x, y, k } = plantedGroups(
      [
        [0, 3, 5],
        [1, 2, 4, 6, 7],
      ],
      40,
      24,
      seed,
    )
    assert.deepEqual(
      superclassGroups(x, y, k),
      [
        [0, 3, 5],
        [1, 2, 4, 6, 7],
      ],
      `seed ${seed}`,
    )
  }
})

const FMNIST = '/usr/share/datasets/fashion-mnist'
const FMNIST_CLASSES = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot']

test('superclass grouping on Fashion-MNIST pixels gives the BENCHMARKS.md groups', (t) => {
  if (!existsSync(`${FMNIST}/train-images-idx3-ubyte.gz`)) {
    t.skip(`${FMNIST} not found (apt-get install dataset-fashion-mnist)`)
    return
  }
  // IDX format: big-endian header (magic, dims), then uint8 pixels / labels.
  const img = gunzipSync(readFileSync(`${FMNIST}/train-images-idx3-ubyte.gz`))
  const lab = gunzipSync(readFileSync(`${FMNIST}/train-labels-idx1-ubyte.gz`))
  const n = 3000
  const d = 784
  const data = new Float32Array(n * d)
  for (let i = 0; i < n * d; i++) data[i] = img[16 + i]! / 255
  const y = new Int32Array(n)
  for (let i = 0; i < n; i++) y[i] = lab[8 + i]!
  const groups = superclassGroups({ data, n, d }, y, 10).map((g) => g.map((c) => FMNIST_CLASSES[c]))
  assert.deepEqual(groups, [
    ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'shirt'],
    ['sandal', 'sneaker', 'bag', 'ankle-boot'],
  ])
})
