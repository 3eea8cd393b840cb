/**
 * RefineOptions.fixedRows (issue 8: review decisions are clamped in training): the PLL student
 * trains on a fixed row's one-hot label instead of the teacher's top 2. The case where it matters:
 * a decision outside the teacher's top two, which that candidate set cannot hold, so without the
 * option the student is trained away from the reviewer's answer.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { refineArrays } from '../../../electron/engine/train/refine.ts'
import { injectNoise } from '../../../electron/engine/validate/noise.ts'
import { gaussianClusters } from '../validate/helpers.ts'

const K = 6
const { x, y: truth } = gaussianClusters(1500, K, 5, 4)
const noisy = injectNoise(truth, K, { type: 'symmetric', rate: 0.5, seed: 2 })
const base = { lambda: 1e-3, seed: 1 } as const

/** Rows whose true class is not among the teacher's two most likely (on the noisy labels), up to `m`. */
async function outsideTopTwo(m: number): Promise<number[]> {
  const t = await refineArrays(x, noisy, K, { ...base, method: 'teacher' })
  const rows: number[] = []
  for (let i = 0; i < x.n && rows.length < m; i++) {
    const p = Array.from(t.probs.subarray(i * K, (i + 1) * K))
    const order = p.map((v, c) => [v, c] as const).sort((a, b) => b[0] - a[0])
    if (order[0]![1] !== truth[i] && order[1]![1] !== truth[i]) rows.push(i)
  }
  return rows
}

test('the PLL student trains on a fixed row’s label: decisions the teacher ranks below its top two are learnt, not distilled away; SD keeps the teacher’s outputs', async () => {
  const rows = await outsideTopTwo(40)
  assert.ok(rows.length >= 10, `${rows.length} rows with the truth outside the teacher's top two`)
  const y = Int32Array.from(noisy)
  const fixedRows = new Uint8Array(x.n)
  for (const i of rows) {
    y[i] = truth[i]!
    fixedRows[i] = 1
  }
  const plain = await refineArrays(x, y, K, { ...base, method: 'pll' })
  const fixed = await refineArrays(x, y, K, { ...base, method: 'pll', fixedRows })
  assert.equal(fixed.details.fixedRows, rows.length)
  assert.equal(plain.details.fixedRows, undefined)
  const meanP = (r: typeof plain) => rows.reduce((a, i) => a + r.probs[i * K + y[i]!]!, 0) / rows.length
  const hits = (r: typeof plain) => rows.filter((i) => r.refined[i] === y[i]).length
  assert.ok(meanP(fixed) > meanP(plain) + 0.05, `mean probability of the decision ${meanP(fixed)} with, ${meanP(plain)} without`)
  assert.ok(hits(fixed) > hits(plain), `decisions reproduced ${hits(fixed)} with, ${hits(plain)} without`)
  // SD: the rounds distil the teacher's outputs on every row, fixed or not (the teacher trained
  // on the decisions); the option changes nothing there.
  const sdPlain = await refineArrays(x, y, K, { ...base, method: 'sd' })
  const sdFixed = await refineArrays(x, y, K, { ...base, method: 'sd', fixedRows })
  assert.deepEqual(sdFixed.probs, sdPlain.probs)
})

test('fixedRows with no row set changes nothing; a mask of the wrong length is refused', async () => {
  const a = await refineArrays(x, noisy, K, { ...base, method: 'pll' })
  const b = await refineArrays(x, noisy, K, { ...base, method: 'pll', fixedRows: new Uint8Array(x.n) })
  assert.deepEqual(b.refined, a.refined)
  assert.deepEqual(b.probs, a.probs)
  await assert.rejects(
    refineArrays(x, noisy, K, { ...base, method: 'pll', fixedRows: Uint8Array.from([1, 0]) }),
    /fixedRows has 2 entries for 1500 samples/,
  )
})

test('cross-fitting with fixed rows: each fold gets the mask of its own rows (a refresh after a cross-fit run used to fail on the length)', async () => {
  const y = Int32Array.from(noisy)
  const fixedRows = new Uint8Array(x.n)
  for (let i = 0; i < x.n; i += 7) {
    y[i] = truth[i]!
    fixedRows[i] = 1
  }
  const r = await refineArrays(x, y, K, { ...base, method: 'pll', crossFit: true, folds: 3, fixedRows })
  assert.equal(r.chosen.crossFit, true)
  assert.equal(r.n, x.n)
  assert.equal(
    r.details.fixedRows,
    fixedRows.reduce((a, b) => a + b, 0),
    'the full fit saw every fixed row',
  )
})

test('with the SGD solver’s held-out stopping rule, fixed rows are always trained on (the held-out fold only picks the epoch)', async () => {
  const y = Int32Array.from(noisy)
  const fixedRows = new Uint8Array(x.n)
  for (let i = 0; i < x.n; i += 5) {
    y[i] = truth[i]!
    fixedRows[i] = 1
  }
  const r = await refineArrays(x, y, K, { ...base, method: 'pll', solver: 'sgd', epochs: 3, fixedRows })
  const all = fixedRows.reduce((a, b) => a + b, 0)
  assert.equal(r.details.fixedRows, all, 'every fixed row is in the fit')
  const stop = r.details.sgdStopping as { heldOut: number }
  assert.ok(stop.heldOut > 0 && stop.heldOut < x.n / 5 + 1, `${stop.heldOut} held-out rows`)
})
