import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CancelledError, type ProgressEvent } from '../../../electron/engine/jobs/progress.ts'
import { refineArrays } from '../../../electron/engine/train/refine.ts'
import type { RefineResult } from '../../../electron/engine/train/types.ts'
import { injectNoise } from '../../../electron/engine/validate/noise.ts'
import { balancedBatch, reviewQueue, simulateReview, valueAt, type ReviewSimResult } from '../../../electron/engine/validate/review-sim.ts'
import { gaussianClusters } from './helpers.ts'

// 10 overlapping Gaussian classes (6-d), 3000 rows, symmetric noise 0.5: the teacher's suggestions
// are about 89% right, so there is room for feedback to help. Fixed start (teacher, lambda 1e-3):
// selection is tested elsewhere and costs folds.
const K = 10
const START = { method: 'teacher', lambda: 1e-3 } as const
const BATCH = 100
const BUDGET = 600

function problem(clusterSeed: number, noiseSeed: number, d = 6) {
  const { x, y } = gaussianClusters(3000, K, d, clusterSeed)
  const noisy = injectNoise(y, K, { type: 'symmetric', rate: 0.5, seed: noiseSeed })
  return { x, truth: y, noisy }
}

const curve = (r: ReviewSimResult, s: string) => r.curves.find((c) => c.strategy === s)!

/** Walks a run's ranking in batches by hand: per batch, reviewed samples whose suggestion / given label was wrong. */
function walkByHand(run: RefineResult, given: Int32Array, truth: Int32Array, suggestion: Int32Array) {
  const order = [...run.rank.keys()].filter((i) => run.flagged[i] === 1).sort((a, b) => run.rank[a]! - run.rank[b]!)
  const fixed: number[] = []
  const wrongGiven: number[] = []
  for (let b = 0; b < BUDGET / BATCH && b * BATCH < order.length; b++) {
    const part = order.slice(b * BATCH, (b + 1) * BATCH)
    fixed.push(part.filter((i) => suggestion[i] !== truth[i]).length)
    wrongGiven.push(part.filter((i) => given[i] !== truth[i]).length)
  }
  return { fixed, wrongGiven }
}

const { x, truth, noisy } = problem(1, 1)
const sim = simulateReview(x, noisy, truth, K, { batch: BATCH, budget: BUDGET, seed: 1, refineOptions: START })

test('with feedback more labels are correct than without after the same number of reviews (small synthetic case)', async () => {
  const r = await sim
  const fb = curve(r, 'feedback')
  const st = curve(r, 'static')
  const un = curve(r, 'uncertain')
  assert.deepEqual(fb.reviews, [0, 100, 200, 300, 400, 500, 600])
  assert.deepEqual(st.reviews, fb.reviews)
  assert.deepEqual(un.reviews, fb.reviews)
  // Against the default queue (most certain first, no re-fit) and against the same queue rule
  // without the re-fits: the second isolates what the learning itself adds.
  assert.ok(valueAt(fb, BUDGET) > valueAt(st, BUDGET), `feedback ${valueAt(fb, BUDGET)} vs without ${valueAt(st, BUDGET)}`)
  assert.ok(valueAt(fb, BUDGET) > valueAt(un, BUDGET), `feedback ${valueAt(fb, BUDGET)} vs the same queue without ${valueAt(un, BUDGET)}`)
  assert.equal(fb.refits, BUDGET / BATCH)
  // A second draw (other clusters, other noise) to show it is not one lucky draw.
  const p = problem(3, 1, 5)
  const r2 = await simulateReview(p.x, p.noisy, p.truth, K, { batch: BATCH, budget: BUDGET, seed: 1, refineOptions: START })
  assert.ok(valueAt(curve(r2, 'feedback'), BUDGET) > valueAt(curve(r2, 'static'), BUDGET))
  assert.ok(valueAt(curve(r2, 'feedback'), BUDGET) > valueAt(curve(r2, 'uncertain'), BUDGET))
})

test('every curve starts at the same point: the start run suggestions (or the given labels)', async () => {
  const r = await sim
  let given = 0
  for (let i = 0; i < truth.length; i++) if (noisy[i] === truth[i]) given++
  assert.equal(r.givenCorrect, given / truth.length)
  for (const c of r.curves) {
    assert.equal(c.reviews[0], 0)
    assert.equal(c.correct[0], r.startCorrect)
    assert.equal(c.correctKept[0], r.givenCorrect)
  }
  assert.deepEqual(
    r.curves.map((c) => c.strategy),
    ['feedback', 'static', 'uncertain', 'cl'],
  )
})

test('without feedback each review fixes at most one label: the increments are the reviewed samples that went from wrong to right', async () => {
  const r = await sim
  const st = curve(r, 'static')
  // Independent: the same start run by hand, its ranking walked in order.
  const start = await refineArrays(x, noisy, K, { ...START, seed: 1 })
  assert.equal(r.startCorrect, [...start.refined].filter((c, i) => c === truth[i]).length / truth.length)
  const byHand = walkByHand(start, noisy, truth, start.refined)
  const n = truth.length
  for (let j = 1; j < st.reviews.length; j++) {
    const step = Math.round((st.correct[j]! - st.correct[j - 1]!) * n)
    const stepKept = Math.round((st.correctKept[j]! - st.correctKept[j - 1]!) * n)
    assert.equal(step, byHand.fixed[j - 1], `batch ${j}`)
    assert.equal(stepKept, byHand.wrongGiven[j - 1], `batch ${j} (given labels kept)`)
    assert.ok(step <= st.reviews[j]! - st.reviews[j - 1]!)
  }
  assert.deepEqual(st.fixedByReview.slice(1), byHand.fixed)
})

test('the least-certain walk takes the flags by the margin between the two most likely classes, smallest first', async () => {
  const r = await sim
  const un = curve(r, 'uncertain')
  const start = await refineArrays(x, noisy, K, { ...START, seed: 1 })
  // Independent: the margin from the probabilities themselves, not from top1Prob/top2Prob.
  const margin = (i: number) => {
    const p = [...start.probs.subarray(i * K, (i + 1) * K)].sort((a, b) => b - a)
    return p[0]! - p[1]!
  }
  const order = [...start.flagged.keys()].filter((i) => start.flagged[i] === 1).sort((a, b) => margin(a) - margin(b) || a - b)
  const fixed: number[] = []
  for (let b = 0; b < BUDGET / BATCH; b++) fixed.push(order.slice(b * BATCH, (b + 1) * BATCH).filter((i) => start.refined[i] !== truth[i]).length)
  assert.deepEqual(un.fixedByReview.slice(1), fixed)
  // The least certain flags hold more wrong suggestions than the most certain ones.
  const sum = (v: number[]) => v.reduce((a, b) => a + b, 0)
  assert.ok(sum(un.fixedByReview) > sum(curve(r, 'static').fixedByReview))
})

test("the confident-learning curve walks CL's own ranking", async () => {
  const r = await sim
  const cl = curve(r, 'cl')
  const start = await refineArrays(x, noisy, K, { ...START, seed: 1 })
  const clRun = await refineArrays(x, noisy, K, { method: 'cl', lambda: START.lambda, seed: 1 })
  assert.equal(
    r.flagged.cl,
    clRun.flagged.reduce((a, b) => a + b, 0),
  )
  // Unreviewed samples keep the start run's suggestion; the reviewed ones are CL's top flags.
  const byHand = walkByHand(clRun, noisy, truth, start.refined)
  assert.deepEqual(cl.fixedByReview.slice(1), byHand.fixed)
  assert.deepEqual(cl.wrongGiven.slice(1), byHand.wrongGiven)
  // And not the start run's ranking (the two rankings differ on this problem).
  assert.notDeepEqual(cl.wrongGiven, curve(r, 'static').wrongGiven)
})

test('the simulation is deterministic under a seed', async () => {
  const a = await sim
  const b = await simulateReview(x, noisy, truth, K, { batch: BATCH, budget: BUDGET, seed: 1, refineOptions: START })
  const strip = (r: ReviewSimResult) => ({ ...r, startSeconds: 0, curves: r.curves.map((c) => ({ ...c, seconds: 0 })) })
  assert.deepEqual(strip(a), strip(b))
})

test('feedback batches are full, and with the given labels kept a review changes at most its own label', async () => {
  const r = await sim
  const fb = curve(r, 'feedback')
  // Every batch is full (enough flags) and counts add up: a batch cannot fix more than it holds.
  for (let j = 1; j < fb.reviews.length; j++) {
    assert.equal(fb.reviews[j]! - fb.reviews[j - 1]!, BATCH)
    assert.ok(fb.fixedByReview[j]! <= BATCH && fb.wrongGiven[j]! <= BATCH)
  }
  // With the given labels kept, only reviews change labels: never more than one per review.
  for (let j = 1; j < fb.reviews.length; j++) {
    assert.equal(Math.round((fb.correctKept[j]! - fb.correctKept[j - 1]!) * truth.length), fb.wrongGiven[j])
  }
})

test('balancedBatch takes the queue round-robin over the suggested class, in rank order within a round', () => {
  const suggested = Int32Array.from([0, 0, 0, 1, 1, 2])
  // queue in rank order: 0 (class 0), 3 (1), 1 (0), 2 (0), 5 (2), 4 (1)
  const queue = [0, 3, 1, 2, 5, 4]
  assert.deepEqual(balancedBatch(queue, suggested, 3, 4), [0, 3, 5, 1])
  assert.deepEqual(balancedBatch(queue, suggested, 3, 10), [0, 3, 5, 1, 4, 2])
  assert.deepEqual(
    reviewQueue({ flagged: Uint8Array.from([1, 0, 1, 1]), rank: Int32Array.from([3, 0, 1, 2]) }, Uint8Array.from([0, 0, 0, 1])),
    [2, 0],
  )
  // Least certain first: margins 0.5, -, 0.1, 0.05 (sample 3 reviewed).
  const probs = { top1Prob: Float32Array.from([0.7, 0.9, 0.5, 0.5]), top2Prob: Float32Array.from([0.2, 0.05, 0.4, 0.45]) }
  const run = { flagged: Uint8Array.from([1, 0, 1, 1]), rank: Int32Array.from([3, 0, 1, 2]), ...probs }
  assert.deepEqual(reviewQueue(run, Uint8Array.from([0, 0, 0, 1]), 'uncertain'), [2, 0])
  assert.deepEqual(reviewQueue(run, new Uint8Array(4), 'uncertain'), [3, 2, 0])
})

test('a curve stops when nothing is left flagged; progress reaches its total; a cancelled simulation says so', async () => {
  const small = problem(1, 1)
  const events: ProgressEvent[] = []
  const r = await simulateReview(small.x, small.noisy, small.truth, K, {
    batch: 1000,
    budget: 10_000,
    seed: 1,
    refineOptions: START,
    strategies: ['static'],
    progress: (e) => events.push(e),
  })
  const st = curve(r, 'static')
  assert.equal(st.exhausted, true)
  assert.equal(st.reviews[st.reviews.length - 1], r.flagged.start)
  assert.equal(r.curves.length, 1)
  const last = events[events.length - 1]!
  assert.equal(last.done, last.total)
  const ac = new AbortController()
  ac.abort()
  await assert.rejects(
    simulateReview(small.x, small.noisy, small.truth, K, { batch: 10, budget: 20, refineOptions: START, signal: ac.signal }),
    CancelledError,
  )
  await assert.rejects(simulateReview(small.x, small.noisy, small.truth, K, { batch: 0, budget: 20 }), /batch must be a positive integer/)
})

test('a validation sweep with review runs one simulation per noise draw, summarises it over seeds, reports it, and resumes without re-running it', async () => {
  const { runValidation } = await import('../../../electron/engine/validate/validate.ts')
  const { toHtml } = await import('../../../electron/engine/validate/report.ts')
  const tr = gaussianClusters(400, 4, 4, 7)
  const te = gaussianClusters(100, 4, 4, 8, tr.centres)
  const input = { train: { x: tr.x, yGiven: tr.y }, trusted: { x: te.x, y: te.y }, classNames: ['ok', 'scratch', 'dent', 'stain'] }
  const config = {
    noiseTypes: ['symmetric' as const],
    rates: [0.4],
    seeds: [1, 2],
    methods: ['teacher' as const],
    refineOptions: { lambda: 1e-3 },
    review: { batch: 20, budget: 60 },
  }
  const r = await runValidation(input, config)
  assert.equal(r.reviewSims?.length, 2)
  assert.deepEqual(
    r.reviewSims!.map((s) => [s.key, s.error]),
    [
      ['symmetric|0.4|1|review', undefined],
      ['symmetric|0.4|2|review', undefined],
    ],
  )
  const rows = r.reviewSummary!
  assert.deepEqual(
    rows.map((x) => [x.strategy, x.n]),
    [
      ['feedback', 2],
      ['static', 2],
      ['uncertain', 2],
      ['cl', 2],
    ],
  )
  for (const row of rows) {
    const curves = r.reviewSims!.map((s) => s.result!.curves.find((c) => c.strategy === row.strategy)!)
    row.reviews.forEach((x, j) => {
      const vals = curves.map((c) => valueAt(c, x))
      assert.ok(Math.abs(row.correct.mean[j]! - (vals[0]! + vals[1]!) / 2) < 1e-12)
    })
  }
  const html = toHtml(r)
  assert.match(html, /How many images do we have to look at\?/)
  assert.match(html, /Labels correct, suggestions taken/)
  assert.match(
    html,
    /Start run of every curve \(auto on each draw, at the sweep’s λ when it fixes one; the methods compared above do not apply here\): teacher, λ 0\.0010\./,
  )
  // The table's columns are where batches of 20 ended (a column at 10 would repeat the value at 0).
  const head = /<table class="review"><thead><tr>(.*?)<\/tr>/.exec(html)![1]!
  assert.deepEqual(
    [...head.matchAll(/<th>(\d+)<\/th>/g)].map((m) => Number(m[1])),
    [0, 20, 40, 60],
  )
  // Resume with everything done: no refine call at all.
  let calls = 0
  const again = await runValidation(input, config, {
    done: r.cells,
    doneReviews: r.reviewSims,
    refine: async (...a) => {
      calls++
      return refineArrays(...a)
    },
  })
  assert.equal(calls, 0)
  assert.deepEqual(again.reviewSummary, r.reviewSummary)
})

test('refineArrays warm start (what the feedback re-fits use): the teacher reaches the same optimum in fewer iterations; a start of another size is ignored', async () => {
  const first = await refineArrays(x, noisy, K, { ...START, seed: 1 })
  assert.ok(first.weights && first.weights.teacher.length === first.weights.final.length)
  const changed = Int32Array.from(noisy)
  for (const i of reviewQueue(first, new Uint8Array(noisy.length)).slice(0, 100)) changed[i] = truth[i]!
  const cold = await refineArrays(x, changed, K, { ...START, seed: 1 })
  const warm = await refineArrays(x, changed, K, { ...START, seed: 1, warmStart: first.weights })
  assert.equal(warm.details.warmStart, true)
  const iters = (r: RefineResult) => (r.details.teacher as { iterations: number }).iterations
  assert.ok(iters(warm) < iters(cold), `warm ${iters(warm)} vs cold ${iters(cold)} iterations`)
  // Strictly convex: the same optimum up to the solver's tolerance, so the same labels.
  let same = 0
  for (let i = 0; i < changed.length; i++) if (warm.refined[i] === cold.refined[i]) same++
  assert.ok(same / changed.length > 0.999, `agreement ${same / changed.length}`)
  const odd = await refineArrays(x, changed, K, { ...START, seed: 1, warmStart: { teacher: new Float64Array(3), final: new Float64Array(3) } })
  assert.equal(odd.details.warmStart, undefined)
  assert.deepEqual(odd.refined, cold.refined)
})
