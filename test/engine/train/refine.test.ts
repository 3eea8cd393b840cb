import { test } from 'node:test'
import assert from 'node:assert/strict'
import { refineArrays } from '../../../electron/engine/train/refine.ts'
import { accuracy } from '../../../electron/engine/train/fit.ts'
import { kFold } from '../../../electron/engine/train/selection.ts'
import { CancelledError } from '../../../electron/engine/jobs/progress.ts'
import type { FeatureMatrix } from '../../../electron/engine/train/types.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

/** K Gaussian clusters in d dimensions; labels flipped uniformly to another class at `rate`. */
function clusters(seed: number, n: number, d: number, k: number, rate: number, pointSeed = seed, spread = 0.8) {
  const rc = createRng(seed)
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, () => rc.normal() * 1.5))
  const rng = createRng(pointSeed + 1000)
  const data = new Float32Array(n * d)
  const truth = new Int32Array(n)
  const noisy = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const c = i % k
    truth[i] = c
    for (let j = 0; j < d; j++) data[i * d + j] = centres[c]![j]! + spread * rng.normal()
    noisy[i] = rng.next() < rate ? (c + 1 + rng.int(k - 1)) % k : c
  }
  const x: FeatureMatrix = { data, n, d }
  return { x, truth, noisy, centres }
}

const K = 4
const data = clusters(1, 400, 6, K, 0.4)
const held = clusters(1, 200, 6, K, 0, 99) // same centres, fresh points: for predict()

test('teacher, SD, PLL (both losses) and CL recover clean labels better than the noisy ones, with consistent outputs', async () => {
  const given = accuracy(oneHotProbs(data.noisy, K), data.truth, K)
  for (const opts of [
    { method: 'teacher' as const },
    { method: 'sd' as const, rounds: 2 },
    { method: 'pll' as const, pllLoss: 'ce' as const },
    { method: 'pll' as const, pllLoss: 'gce' as const },
    { method: 'cl' as const },
  ]) {
    const r = await refineArrays(data.x, data.noisy, K, { ...opts, lambda: 1e-3 })
    const label = JSON.stringify(opts)
    assert.equal(r.method, opts.method)
    assert.equal(r.probs.length, data.x.n * K)
    let recovered = 0
    let flagged = 0
    const ranks: number[] = []
    for (let i = 0; i < r.n; i++) {
      if (r.refined[i] === data.truth[i]) recovered++
      assert.equal(r.flagged[i], r.refined[i] !== data.noisy[i] ? 1 : 0, `${label}: flagged means refined != given`)
      assert.ok(Math.abs(r.confidence[i]! - r.probs[i * K + r.refined[i]!]!) < 1e-6)
      assert.ok(r.top1Prob[i]! >= r.top2Prob[i]! && r.top1[i] !== r.top2[i])
      if (r.flagged[i]) {
        flagged++
        ranks.push(r.rank[i]!)
      } else assert.equal(r.rank[i], 0)
    }
    // Ranks are 1..m, each once.
    assert.deepEqual(
      ranks.sort((a, b) => a - b),
      Array.from({ length: flagged }, (_, i) => i + 1),
      `${label}: ranks`,
    )
    assert.ok(recovered / r.n > given + 0.2, `${label}: recovery ${recovered / r.n} vs given ${given}`)
    const p = await r.predict(held.x)
    assert.ok(
      accuracy(p, held.truth, K) > given + 0.15,
      `${label}: predict() on other samples ${accuracy(p, held.truth, K)} (recovery ${recovered / r.n})`,
    )
    assert.ok((r.timings.total ?? 0) >= 0)
    assert.equal(r.chosen.lambda, 1e-3)
    if (opts.method === 'cl') {
      const est = (r.details.cl as { noiseRate: number }).noiseRate
      assert.ok(est > 0.2 && est < 0.6, `cl noise-rate estimate ${est} for a true rate of 0.4`)
    }
  }
})

function oneHotProbs(y: Int32Array, k: number): Float32Array {
  const p = new Float32Array(y.length * k)
  y.forEach((c, i) => (p[i * k + c] = 1))
  return p
}

test('automatic selection picks lambda and the PLL loss from the grid using only the given labels, deterministically', async () => {
  const opts = { method: 'pll' as const, lambdas: [1e-1, 1e-2, 1e-3], selectionMaxIter: 50 }
  const a = await refineArrays(data.x, data.noisy, K, opts)
  const b = await refineArrays(data.x, data.noisy, K, opts)
  assert.ok([1e-1, 1e-2, 1e-3].includes(a.chosen.lambda as number))
  assert.ok(['ce', 'gce'].includes(a.chosen.pllLoss as string))
  assert.equal(a.chosen.lambdaSource, 'validation')
  const sel = a.details.selection as { scores: { candidate: string; lambda: number; score: number }[]; winner: { lambda: number }; visited: number[] }
  // 2 losses, each scored on the lambdas of its own path: a prefix of those the search visited, the longest all of them.
  const per = ['pll-ce', 'pll-gce'].map((c) => sel.scores.filter((s) => s.candidate === c).map((s) => s.lambda))
  for (const l of per) assert.deepEqual(l, sel.visited.slice(0, l.length))
  assert.equal(Math.max(...per.map((l) => l.length)), sel.visited.length)
  assert.ok(sel.visited.length >= 1 && sel.visited.length <= 3)
  assert.equal(sel.winner.lambda, a.chosen.lambda)
  const top = Math.max(...sel.scores.map((s) => s.score))
  assert.equal(sel.scores.find((s) => s.lambda === a.chosen.lambda && s.candidate === `pll-${a.chosen.pllLoss}`)!.score, top)
  // Same seed, same result.
  assert.deepEqual(a.refined, b.refined)
  assert.deepEqual(a.chosen, b.chosen)
})

test('auto scores teacher, SD rounds and PLL-GCE, names the winner by the rule, and fits the method it chose', async () => {
  const r = await refineArrays(data.x, data.noisy, K, { method: 'auto', lambdas: [1e-1, 1e-2, 1e-3] })
  assert.ok(['teacher', 'sd', 'pll'].includes(r.method))
  assert.equal(r.chosen.method, r.method)
  assert.equal(r.chosen.methodSource, 'validation')
  interface Cand {
    candidate: string
    lambda: number
    score: number
    behind: number
    pairedSe: number
  }
  const sel = r.details.selection as { candidates: Cand[]; winner: Cand; top: Cand; tolerance: number; noise: { compression: number } }
  assert.deepEqual(
    sel.candidates.map((c) => c.candidate),
    ['teacher', 'sd1', 'sd2', 'pll-gce'],
  )
  const top = Math.max(...sel.candidates.map((c) => c.score))
  assert.equal(sel.top.score, top)
  // The rule: the winner is the top, or a simpler candidate within g x paired SE of it; no
  // candidate simpler than the winner is within its own tolerance.
  const g = Math.max(0.05, sel.noise.compression)
  const wi = sel.candidates.findIndex((c) => c.candidate === sel.winner.candidate)
  const w = sel.candidates[wi]!
  assert.ok(w.score === top || w.behind <= g * w.pairedSe + 1e-12)
  for (const c of sel.candidates.slice(0, wi)) assert.ok(c.behind > g * c.pairedSe, `${c.candidate} is simpler and within tolerance`)
  // The deployed fit uses the winner's lambda, and SD rounds / PLL loss follow the candidate.
  assert.equal(r.chosen.lambda, sel.winner.lambda)
  if (r.method === 'sd') assert.equal(`sd${r.chosen.rounds}`, sel.winner.candidate)
  if (r.method === 'pll') assert.equal(r.chosen.pllLoss, 'gce')
  // 'best' takes the top scorer whatever the tolerance.
  const best = await refineArrays(data.x, data.noisy, K, { method: 'auto', lambdas: [1e-1, 1e-2, 1e-3], methodRule: 'best' })
  const bs = best.details.selection as { winner: Cand }
  assert.equal(bs.winner.score, top)
})

test('the SGD recipe runs through the same engine and is deterministic for a seed', async () => {
  const o = { method: 'teacher' as const, lambda: 1e-3, solver: 'sgd' as const, epochs: 3, seed: 5 }
  const a = await refineArrays(data.x, data.noisy, K, o)
  const b = await refineArrays(data.x, data.noisy, K, o)
  assert.deepEqual(a.probs, b.probs)
  assert.ok(accuracy(a.probs, data.truth, K) > 0.6)
  // Default stopping rule: the best epoch on a held-out fold of the given labels.
  assert.equal(a.chosen.sgdStop, 'validation')
  const stop = a.details.sgdStopping as { heldOut: number; epochs: Record<string, number> }
  assert.equal(stop.heldOut, 80) // one fold of 5
  assert.ok(stop.epochs.teacher! >= 1 && stop.epochs.teacher! <= 3)
  assert.equal(a.probs.length, data.x.n * K) // outputs for every row, not only the fitted ones
  const last = await refineArrays(data.x, data.noisy, K, { ...o, method: 'pll', sgdStop: 'last' })
  assert.equal(last.chosen.sgdStop, 'last')
  assert.equal(last.details.sgdStopping, undefined)
})

test('bad input gets a clear error; an aborted signal cancels', async () => {
  await assert.rejects(refineArrays(data.x, data.noisy.subarray(0, 10), K, { method: 'teacher' }), /10 labels for 400 feature rows/)
  const bad = Int32Array.from(data.noisy)
  bad[3] = 9
  await assert.rejects(refineArrays(data.x, bad, K, { method: 'teacher', lambda: 1e-3 }), /label 9 of row 3 is outside 0..3/)
  await assert.rejects(refineArrays(data.x, data.noisy, K, { method: 'sd', rounds: 11 }), /rounds must be an integer in 1..10/)
  const ac = new AbortController()
  let events = 0
  const p = refineArrays(data.x, data.noisy, K, {
    method: 'teacher',
    lambda: 1e-4,
    signal: ac.signal,
    progress: () => {
      if (++events === 3) ac.abort()
    },
  })
  await assert.rejects(p, CancelledError)
})

test('k-fold splits are disjoint and cover every row', () => {
  const parts = kFold(103, 4, 2)
  const seen = new Set<number>()
  for (const { train, heldOut } of parts) {
    assert.equal(train.length + heldOut.length, 103)
    for (const i of heldOut) {
      assert.ok(!seen.has(i))
      seen.add(i)
    }
  }
  assert.equal(seen.size, 103)
})

test('the tfjs engine gives the same refinement as the ort engine', async () => {
  const a = await refineArrays(data.x, data.noisy, K, { method: 'pll', pllLoss: 'gce', lambda: 1e-2, engine: 'ort' })
  const b = await refineArrays(data.x, data.noisy, K, { method: 'pll', pllLoss: 'gce', lambda: 1e-2, engine: 'tfjs' })
  assert.equal(a.chosen.engine, 'ort')
  assert.equal(b.chosen.engine, 'tfjs')
  let maxDiff = 0
  for (let i = 0; i < a.probs.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.probs[i]! - b.probs[i]!))
  assert.ok(maxDiff < 1e-3, `probabilities differ by ${maxDiff}`)
})
