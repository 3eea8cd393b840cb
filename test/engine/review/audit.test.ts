// The audit's statistics (electron/engine/review/audit.ts), checked against independent
// computations: binomial and hypergeometric probabilities summed term by term here, the score-test
// equation that defines Wilson's interval, Cochran's variance formula for the size.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  clopperPearson,
  drawSample,
  estimateAccuracy,
  sampleSize,
  wilson,
  Z95,
  type AuditFrame,
  type AuditPair,
} from '../../../electron/engine/review/audit.ts'

/** Binomial(n, p) probabilities by the product formula in log space (no shared code with the engine). */
function binomialPmf(n: number, p: number): number[] {
  const out: number[] = []
  for (let k = 0; k <= n; k++) {
    let l = 0
    for (let i = 1; i <= k; i++) l += Math.log((n - k + i) / i)
    out.push(Math.exp(l + (k === 0 ? 0 : k * Math.log(p)) + (n - k === 0 ? 0 : (n - k) * Math.log(1 - p))))
  }
  return out
}

/** log C(a, b) by summing logs. */
function logChoose(a: number, b: number): number {
  let l = 0
  for (let i = 1; i <= b; i++) l += Math.log((a - b + i) / i)
  return l
}

/** Hypergeometric: k successes when drawing n of N items of which K are successes. */
function hypergeometricPmf(N: number, K: number, n: number): number[] {
  const all = logChoose(N, n)
  const out: number[] = []
  for (let k = 0; k <= n; k++) out.push(k > K || n - k > N - K ? 0 : Math.exp(logChoose(K, k) + logChoose(N - K, n - k) - all))
  return out
}

test('size: Cochran n0 = z²p(1-p)/h², then the finite-population correction; the planned half-width is met and one fewer misses it', () => {
  for (const h of [0.02, 0.03, 0.05, 0.1]) {
    for (const p of [0.5, 0.8, 0.9, 0.97]) {
      const { n } = sampleSize({ precision: h, expected: p })
      const half = (m: number) => Z95 * Math.sqrt((p * (1 - p)) / m)
      assert.ok(half(n) <= h + 1e-12, `h=${h} p=${p}: n=${n} meets the half-width`)
      assert.ok(n === 1 || half(n - 1) > h, `h=${h} p=${p}: n-1=${n - 1} does not`)
      for (const N of [50, 500, 5000]) {
        const f = sampleSize({ precision: h, expected: p, population: N })
        assert.ok(f.n <= Math.min(N, n), 'the correction never asks for more')
        // Sampling without replacement: Var(p̂) = p(1-p)/n · (N-n)/(N-1) (Cochran eq. 3.6).
        const halfFpc = (m: number) => Z95 * Math.sqrt(((p * (1 - p)) / m) * ((N - m) / (N - 1)))
        assert.ok(halfFpc(f.n) <= h + 1e-12, `N=${N}: ${f.n} meets it`)
        assert.ok(f.n === 1 || halfFpc(f.n - 1) > h * (1 - 1e-9), `N=${N}: ${f.n - 1} does not`)
      }
    }
  }
  // The textbook figures: ±3 points at the worst case asks for 1068, ±5 points for 385.
  assert.equal(sampleSize({ precision: 0.03 }).n, 1068)
  assert.equal(sampleSize({ precision: 0.05 }).n, 385)
  assert.throws(() => sampleSize({ precision: 0 }), /precision/)
  assert.throws(() => sampleSize({ precision: 0.03, expected: 1 }), /planning accuracy/)
})

test('draw: the same seed gives the same sample in the same order, whatever order the ids came in; every id equally likely', () => {
  const ids = Array.from({ length: 300 }, (_, i) => 1000 + 3 * i)
  const a = drawSample(ids, 40, 7)
  assert.deepEqual(drawSample([...ids].reverse(), 40, 7), a)
  assert.equal(new Set(a).size, 40, 'without replacement')
  assert.ok(a.every((x) => ids.includes(x)))
  assert.notDeepEqual(drawSample(ids, 40, 8), a, 'another seed, another sample')
  assert.deepEqual(drawSample(ids, 10, 7), a.slice(0, 10), 'a smaller draw with the same seed is the same prefix')
  assert.equal(drawSample(ids, 500, 1).length, 300, 'at most the whole frame')
  // Inclusion frequencies over many seeds: each of 20 ids is drawn with probability 5/20.
  const small = Array.from({ length: 20 }, (_, i) => i + 1)
  const count = new Map<number, number>()
  const seeds = 4000
  for (let s = 0; s < seeds; s++) for (const x of drawSample(small, 5, s)) count.set(x, (count.get(x) ?? 0) + 1)
  const sd = Math.sqrt(seeds * 0.25 * 0.75)
  for (const x of small) assert.ok(Math.abs((count.get(x) ?? 0) - seeds / 4) < 4.5 * sd, `id ${x} drawn ${count.get(x)} times of ${seeds}`)
})

test("Wilson's ends solve the score test's equation (p̂ - p)² = z² p(1-p)/n; Clopper-Pearson's ends leave 2.5% in each binomial tail", () => {
  for (const n of [1, 7, 30, 100, 385]) {
    for (const k of [0, 1, Math.floor(n / 2), n - 1, n]) {
      if (k < 0) continue
      const w = wilson(k, n)
      const ph = k / n
      for (const end of [w.lo, w.hi]) {
        if ((end === 0 && k === 0) || (end === 1 && k === n)) continue
        assert.ok(Math.abs((ph - end) ** 2 - (Z95 * Z95 * end * (1 - end)) / n) < 1e-9, `wilson n=${n} k=${k} end ${end}`)
      }
      assert.ok(w.lo <= ph && ph <= w.hi)
      const cp = clopperPearson(k, n)
      if (k > 0) {
        const upper = binomialPmf(n, cp.lo)
          .slice(k)
          .reduce((a, b) => a + b, 0)
        assert.ok(Math.abs(upper - 0.025) < 1e-7, `CP lo n=${n} k=${k}: P(X >= k) = ${upper}`)
      } else assert.equal(cp.lo, 0)
      if (k < n) {
        const lower = binomialPmf(n, cp.hi)
          .slice(0, k + 1)
          .reduce((a, b) => a + b, 0)
        assert.ok(Math.abs(lower - 0.025) < 1e-7, `CP hi n=${n} k=${k}: P(X <= k) = ${lower}`)
      } else assert.equal(cp.hi, 1)
    }
  }
  assert.deepEqual(wilson(0, 0), { lo: 0, hi: 1 })
})

test('exact coverage (brute-force binomial sums): Clopper-Pearson never below 95%, Wilson close to 95% on average', () => {
  for (const n of [30, 100, 385]) {
    const covW: number[] = []
    const ws = Array.from({ length: n + 1 }, (_, k) => wilson(k, n))
    const cps = Array.from({ length: n + 1 }, (_, k) => clopperPearson(k, n))
    for (let i = 1; i < 100; i++) {
      const p = i / 100
      const pmf = binomialPmf(n, p)
      let cw = 0
      let cc = 0
      pmf.forEach((pk, k) => {
        const w = ws[k]!
        const c = cps[k]!
        if (w.lo <= p && p <= w.hi) cw += pk
        if (c.lo <= p && p <= c.hi) cc += pk
      })
      assert.ok(cc >= 0.95 - 1e-9, `Clopper-Pearson n=${n} p=${p}: ${cc}`)
      covW.push(cw)
    }
    const mean = covW.reduce((a, b) => a + b, 0) / covW.length
    assert.ok(Math.abs(mean - 0.95) < 0.01, `Wilson n=${n}: mean coverage over p ${mean}`)
    // Away from the ends (accuracies a QC team audits: 0.5 to 0.95) Wilson does not drop far.
    const mid = covW.slice(49, 95)
    assert.ok(Math.min(...mid) > 0.92, `Wilson n=${n}: lowest coverage for p in [0.5, 0.95] ${Math.min(...mid)}`)
  }
})

/** A frame of N labelled samples (all of one class, for the overall figure) of which `right` have a right final label. */
function population(N: number, right: number): { ids: number[]; truthOf: (id: number) => number } {
  const ids = Array.from({ length: N }, (_, i) => i + 1)
  // Which samples are wrong is fixed by a seeded shuffle so that ids carry no order.
  const wrong = new Set(drawSample(ids, N - right, 12345))
  return { ids, truthOf: (id) => (wrong.has(id) ? 1 : 0) }
}

test("over many seeded draws the audit's 95% interval covers the true accuracy at close to its nominal rate (checked against the exact hypergeometric coverage)", () => {
  const N = 2000
  for (const accuracy of [0.9, 0.75]) {
    const right = Math.round(accuracy * N)
    const { ids, truthOf } = population(N, right)
    const { n } = sampleSize({ precision: 0.05, expected: 0.9, population: N })
    const frame: AuditFrame = { stratum: 'all', size: N, byClass: [N, 0], rest: null }
    const draws = 2000
    let covered = 0
    for (let seed = 0; seed < draws; seed++) {
      const pairs: AuditPair[] = drawSample(ids, n, seed).map((id) => ({ final: 0, truth: truthOf(id) }))
      const { overall } = estimateAccuracy(pairs, frame)
      assert.equal(overall.n, n)
      if (overall.overall.lo <= accuracy && accuracy <= overall.overall.hi) covered++
    }
    // Independent: the exact coverage of the reported (Wilson) interval under sampling without replacement.
    const exact = hypergeometricPmf(N, right, n).reduce((s, pk, k) => {
      const w = wilson(k, n)
      return s + (w.lo <= accuracy && accuracy <= w.hi ? pk : 0)
    }, 0)
    const rate = covered / draws
    const se = Math.sqrt((exact * (1 - exact)) / draws)
    assert.ok(Math.abs(rate - exact) < 4 * se, `accuracy ${accuracy}, n=${n}: covered ${rate}, exact ${exact}`)
    assert.ok(exact > 0.93 && exact < 0.99, `accuracy ${accuracy}: exact coverage ${exact} close to (and, without replacement, a little above) 95%`)
  }
})

test('an audit of the unflagged part: the overall figure adds the flagged part (reviewed ones counted right), and its interval covers the true overall accuracy', () => {
  // Unflagged stratum: 1500 samples, 92% right; flagged part: 300, of which 240 reviewed (right) and
  // 60 unreviewed, of which 25 happen to be right (the audit cannot know that).
  const Nu = 1500
  const rightU = 1380
  const { ids, truthOf } = population(Nu, rightU)
  const rest = {
    size: 300,
    reviewed: 240,
    byClass: [
      { size: 300, reviewed: 240 },
      { size: 0, reviewed: 0 },
    ],
  }
  const frame: AuditFrame = { stratum: 'unflagged', size: Nu, byClass: [Nu, 0], rest }
  const trueOverall = (rightU + 240 + 25) / (Nu + 300)
  const { n } = sampleSize({ precision: 0.05, expected: 0.9, population: Nu })
  const draws = 1000
  let covered = 0
  let stratumCovered = 0
  for (let seed = 0; seed < draws; seed++) {
    const pairs = drawSample(ids, n, seed).map((id) => ({ final: 0, truth: truthOf(id) }))
    const { overall: f } = estimateAccuracy(pairs, frame)
    // The figure as the module documents it, recomputed from the stratum's own numbers.
    const p = f.correct / f.n
    assert.ok(Math.abs(f.overall.estimate! - (Nu * p + 240) / 1800) < 1e-12)
    assert.ok(Math.abs(f.overall.lo - (Nu * f.stratum.wilson.lo + 240) / 1800) < 1e-12)
    assert.ok(Math.abs(f.overall.hi - (Nu * f.stratum.wilson.hi + 240 + 60) / 1800) < 1e-12)
    if (f.overall.lo <= trueOverall && trueOverall <= f.overall.hi) covered++
    if (f.stratum.wilson.lo <= rightU / Nu && rightU / Nu <= f.stratum.wilson.hi) stratumCovered++
  }
  assert.ok(stratumCovered / draws > 0.92, `stratum coverage ${stratumCovered / draws}`)
  assert.ok(covered >= stratumCovered, 'whenever the stratum is covered, so is the overall accuracy')
  // Per class: the figure covers the samples whose final label is that class.
  const pairs: AuditPair[] = [
    { final: 0, truth: 0 },
    { final: 0, truth: 1 },
    { final: 1, truth: 1 },
  ]
  const perClass = estimateAccuracy(pairs, { stratum: 'all', size: 30, byClass: [20, 10], rest: null }).perClass
  assert.deepEqual(
    perClass.map((c) => [c.n, c.correct, c.population]),
    [
      [2, 1, 20],
      [1, 1, 10],
    ],
  )
})
