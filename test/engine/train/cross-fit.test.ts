// Out-of-fold refinement for few samples per dimension: where the in-sample optimum reproduces
// the given labels (n <= d), the cross-fitted run still finds the flipped ones.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { refineArrays } from '../../../electron/engine/train/refine.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

function problem(n: number, d: number, k: number, noise: number, seed: number) {
  const r = createRng(seed)
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, () => 0.6 * r.normal()))
  const x = new Float32Array(n * d)
  const truth = new Int32Array(n)
  const given = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const c = i % k
    truth[i] = c
    for (let j = 0; j < d; j++) x[i * d + j] = centres[c]![j]! + r.normal()
    given[i] = r.next() < noise ? (c + 1 + r.int(k - 1)) % k : c
  }
  return { x: { data: x, n, d }, truth, given }
}

test('with n < d the in-sample teacher memorises the given labels; the cross-fitted one flags the flipped ones', async () => {
  const { x, truth, given } = problem(120, 300, 3, 0.25, 5)
  const wrong = [...given].map((g, i) => (g !== truth[i] ? 1 : 0))
  const nWrong = wrong.reduce((a: number, b: number) => a + b, 0)
  assert.ok(nWrong > 15, `noise injected: ${nWrong}`)

  const inSample = await refineArrays(x, given, 3, { method: 'teacher', lambda: 1e-4 })
  const inFlagged = inSample.flagged.reduce((a, b) => a + b, 0)
  assert.ok(inFlagged <= 2, `in-sample optimum reproduces the labels: ${inFlagged} flagged`)

  const crossed = await refineArrays(x, given, 3, { method: 'teacher', lambda: 1e-4, crossFit: true, folds: 5 })
  let hit = 0
  let flagged = 0
  for (let i = 0; i < x.n; i++) {
    if (crossed.flagged[i]) {
      flagged++
      if (wrong[i]) hit++
    }
  }
  assert.ok(hit / nWrong >= 0.8, `recall of flipped labels ${hit}/${nWrong}`)
  assert.ok(hit / flagged >= 0.8, `precision ${hit}/${flagged}`)
  assert.equal(crossed.chosen.crossFit, true)
  // Refined labels and flags agree with the probabilities they came from.
  for (let i = 0; i < x.n; i++) {
    assert.equal(crossed.flagged[i], crossed.refined[i] !== given[i] ? 1 : 0)
    assert.ok(Math.abs(crossed.confidence[i]! - crossed.probs[i * 3 + crossed.refined[i]!]!) < 1e-6)
  }
  // Other samples: the mean of the fold models, a proper distribution.
  const p = await crossed.predict({ data: x.data.subarray(0, 300 * 2), n: 2, d: 300 })
  for (let i = 0; i < 2; i++) assert.ok(Math.abs(p[i * 3]! + p[i * 3 + 1]! + p[i * 3 + 2]! - 1) < 1e-4)
})

test('cross-fitting PLL keeps the lambda and loss chosen on all samples', async () => {
  const { x, given } = problem(150, 60, 3, 0.3, 9)
  const r = await refineArrays(x, given, 3, { method: 'pll', lambda: 1e-3, pllLoss: 'gce', crossFit: true, folds: 3 })
  assert.equal(r.chosen.lambda, 1e-3)
  assert.equal(r.chosen.pllLoss, 'gce')
  assert.equal(r.chosen.folds, 3)
  assert.equal(r.probs.length, 150 * 3)
})
