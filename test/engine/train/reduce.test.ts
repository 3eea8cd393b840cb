import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createEngine, LinearProblem, predictModel } from '../../../electron/engine/train/engine.ts'
import { fitTargets, oneHot } from '../../../electron/engine/train/fit.ts'
import { cholesky, eigenRotation, rowSpaceReduction, shouldReduce, symmetricEigen } from '../../../electron/engine/train/reduce.ts'
import { refineArrays } from '../../../electron/engine/train/refine.ts'
import type { FeatureMatrix } from '../../../electron/engine/train/types.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

function randomMatrix(seed: number, n: number, d: number, offset = 0): FeatureMatrix {
  const rng = createRng(seed)
  // Non-negative features with a common offset, like the built-in backbone's: badly conditioned.
  return { data: Float32Array.from({ length: n * d }, () => Math.abs(rng.normal()) + offset), n, d }
}

test('symmetricEigen: A v = l v, orthonormal vectors, ascending values (against a direct check)', () => {
  const rng = createRng(3)
  for (const n of [1, 2, 7, 40]) {
    const b = Array.from({ length: n * n }, () => rng.normal())
    const a = new Float64Array(n * n)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j]! += b[i * n + k]! * b[j * n + k]!
    const { values, vectors } = symmetricEigen(a, n)
    for (let c = 1; c < n; c++) assert.ok(values[c - 1]! <= values[c]!)
    for (let c = 0; c < n; c++) {
      for (let i = 0; i < n; i++) {
        let av = 0
        for (let k = 0; k < n; k++) av += a[i * n + k]! * vectors[k * n + c]!
        assert.ok(Math.abs(av - values[c]! * vectors[i * n + c]!) < 1e-9 * (1 + Math.abs(values[n - 1]!)), `n=${n} column ${c} row ${i}`)
      }
      for (let c2 = 0; c2 < n; c2++) {
        let dot = 0
        for (let i = 0; i < n; i++) dot += vectors[i * n + c]! * vectors[i * n + c2]!
        assert.ok(Math.abs(dot - (c === c2 ? 1 : 0)) < 1e-9)
      }
    }
    // The trace is the sum of the eigenvalues.
    let tr = 0
    for (let i = 0; i < n; i++) tr += a[i * n + i]!
    assert.ok(Math.abs(tr - values.reduce((s, v) => s + v, 0)) < 1e-8 * (1 + Math.abs(tr)))
  }
})

test('cholesky: L L^T reproduces the matrix, and a matrix that is not positive definite is refused', () => {
  const a = Float64Array.from([4, 2, 2, 3])
  const l = cholesky(a, 2)
  assert.deepEqual(
    [...l].map((v) => +v.toFixed(12)),
    [2, 0, 1, +Math.sqrt(2).toFixed(12)],
  )
  assert.throws(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2), /not positive definite/)
})

test('the row-space reduction solves the same problem: a fit on the reduced rows predicts what the full fit predicts', async () => {
  const engine = await createEngine('ort')
  try {
    const k = 4
    for (const [n, d] of [
      [30, 200],
      [120, 500], // eigenbasis (n <= EIGEN_MAX_ROWS)
    ] as const) {
      const x = randomMatrix(n, n, d, 1)
      const y = Int32Array.from({ length: n }, (_, i) => i % k)
      const lambda = 0.05
      const full = new LinearProblem(await engine.load(x, k), false)
      const wFull = (await fitTargets(full, oneHot(y, k), 'ce', lambda, new Float64Array(full.size), { maxIter: 3000, gradTol: 1e-9 }, 'full')).w
      const red = await rowSpaceReduction(engine, x)
      assert.ok(red.f.d <= n)
      const small = new LinearProblem(await engine.load(red.f, k), false)
      const v = (await fitTargets(small, oneHot(y, k), 'ce', lambda, new Float64Array(small.size), { maxIter: 3000, gradTol: 1e-9 }, 'reduced')).w
      // Same objective value at the two optima (the reduction is exact).
      const lf = (await full.lossGrad(wFull, lambda)).loss
      const lr = (await small.lossGrad(v, lambda)).loss
      assert.ok(Math.abs(lf - lr) < 1e-5 * Math.abs(lf), `n=${n}: loss ${lf} vs ${lr}`)
      // Lifted back, it predicts new samples like the full fit.
      const lifted = red.lift(v, k)
      const fresh = randomMatrix(999, 50, d, 1)
      const pf = await predictModel(engine, { d, k, bias: false, w: wFull }, fresh)
      const pr = await predictModel(engine, { d, k, bias: false, w: lifted }, fresh)
      let maxDiff = 0
      for (let i = 0; i < pf.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pf[i]! - pr[i]!))
      assert.ok(maxDiff < 2e-3, `n=${n}: probabilities differ by ${maxDiff}`)
      await full.dispose()
      await small.dispose()
    }
  } finally {
    await engine.dispose()
  }
})

test('refineArrays reduces when rows < dimensions and gives the labels the unreduced problem gives', async () => {
  const n = 90
  const d = 300
  const k = 3
  const x = randomMatrix(5, n, d, 0.5)
  const rng = createRng(8)
  const y = Int32Array.from({ length: n }, (_, i) => (rng.next() < 0.3 ? rng.int(k) : i % k))
  assert.ok(shouldReduce(n, d))
  const r = await refineArrays(x, y, k, { method: 'teacher', lambda: 0.02 })
  assert.equal(r.chosen.reduced, true)
  // Independent: the same objective solved on the full matrix with no reduction.
  const engine = await createEngine('ort')
  try {
    const p = new LinearProblem(await engine.load(x, k), false)
    const w = (await fitTargets(p, oneHot(y, k), 'ce', 0.02, new Float64Array(p.size), { maxIter: 3000, gradTol: 1e-9 }, 'full')).w
    const probs = await p.probs(w)
    let same = 0
    for (let i = 0; i < n; i++) {
      let b = 0
      for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + b]!) b = c
      if (b === r.refined[i]) same++
    }
    assert.ok(same >= n - 1, `${same} of ${n} labels agree`)
    await p.dispose()
  } finally {
    await engine.dispose()
  }
})

test('the eigenbasis rotation (more rows than dimensions) is exact: same objective value, same predictions, orthogonal columns', async () => {
  const engine = await createEngine('ort')
  try {
    const k = 3
    const [n, d] = [400, 40]
    const x = randomMatrix(21, n, d, 1)
    const y = Int32Array.from({ length: n }, (_, i) => i % k)
    const lambda = 0.01
    const rot = await eigenRotation(engine, x)
    assert.equal(rot.f.d, d)
    // Columns of F = X V are orthogonal, largest energy first.
    const col = (q: number) => Array.from({ length: n }, (_, i) => rot.f.data[i * d + q]!)
    const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0)
    const c0 = col(0)
    const c1 = col(1)
    assert.ok(Math.abs(dot(c0, c1)) < 1e-3 * Math.sqrt(dot(c0, c0) * dot(c1, c1)))
    assert.ok(dot(c0, c0) >= dot(c1, c1))
    const full = new LinearProblem(await engine.load(x, k), false)
    const wFull = (await fitTargets(full, oneHot(y, k), 'ce', lambda, new Float64Array(full.size), { maxIter: 3000, gradTol: 1e-9 }, 'full')).w
    const rp = new LinearProblem(await engine.load(rot.f, k), false)
    const v = (await fitTargets(rp, oneHot(y, k), 'ce', lambda, new Float64Array(rp.size), { maxIter: 3000, gradTol: 1e-9 }, 'rotated')).w
    const lf = (await full.lossGrad(wFull, lambda)).loss
    const lr = (await rp.lossGrad(v, lambda)).loss
    assert.ok(Math.abs(lf - lr) < 1e-5 * Math.abs(lf), `loss ${lf} vs ${lr}`)
    const fresh = randomMatrix(77, 30, d, 1)
    const pf = await predictModel(engine, { d, k, bias: false, w: wFull }, fresh)
    const pr = await predictModel(engine, { d, k, bias: false, w: rot.lift(v, k) }, fresh)
    let maxDiff = 0
    for (let i = 0; i < pf.length; i++) maxDiff = Math.max(maxDiff, Math.abs(pf[i]! - pr[i]!))
    assert.ok(maxDiff < 2e-3, `probabilities differ by ${maxDiff}`)
    await full.dispose()
    await rp.dispose()
  } finally {
    await engine.dispose()
  }
})
