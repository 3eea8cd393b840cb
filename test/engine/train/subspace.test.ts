import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createEngine, LinearProblem } from '../../../electron/engine/train/engine.ts'
import { diagonalPreconditioner, fitTargets, oneHot } from '../../../electron/engine/train/fit.ts'
import { symmetricEigen } from '../../../electron/engine/train/reduce.ts'
import { refineArrays, usesSubspace } from '../../../electron/engine/train/refine.ts'
import { liftFromSubspace, principalSubspace, projectOnto, spectralPreconditioner } from '../../../electron/engine/train/subspace.ts'
import type { FeatureMatrix } from '../../../electron/engine/train/types.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

/**
 * Features like a backbone's: non-negative, a large common component and a decaying spectrum
 * (column j scaled by 1 / (1 + j / 8)), with labels that depend on the leading columns.
 */
function backboneLike(seed: number, n: number, d: number, k: number): { x: FeatureMatrix; y: Int32Array } {
  const rng = createRng(seed)
  const centres = Array.from({ length: k }, () => Float32Array.from({ length: d }, () => rng.normal()))
  const data = new Float32Array(n * d)
  const y = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const c = rng.int(k)
    y[i] = rng.next() < 0.2 ? rng.int(k) : c
    for (let j = 0; j < d; j++) data[i * d + j] = Math.abs(1 + (0.8 * centres[c]![j]! + rng.normal()) / (1 + j / 8))
  }
  return { x: { data, n, d }, y }
}

/** X^T X in float64, directly. */
function covariance(x: FeatureMatrix): Float64Array {
  const { n, d, data } = x
  const c = new Float64Array(d * d)
  for (let i = 0; i < n; i++)
    for (let a = 0; a < d; a++) {
      const va = data[i * d + a]!
      for (let b = 0; b <= a; b++) c[a * d + b]! += va * data[i * d + b]!
    }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) c[b * d + a] = c[a * d + b]!
  return c
}

for (const via of ['covariance', 'products'] as const)
  test(`principalSubspace finds the leading eigenpairs of X^T X (against a dense eigendecomposition), iterating ${via === 'covariance' ? 'on C = X^T X' : 'with products by X and X^T'}`, async () => {
    const engine = await createEngine('ort')
    try {
      const { x } = backboneLike(1, 400, 90, 4)
      const s = await principalSubspace(engine, x, 12, { seed: 5, via })
      const dense = symmetricEigen(covariance(x), x.d)
      const d = x.d
      for (let t = 0; t < 8; t++) {
        const want = dense.values[d - 1 - t]!
        // One power pass (the default): the leading values to 1e-3, the next ones to 1e-2.
        assert.ok(Math.abs(s.values[t]! - want) <= (t < 4 ? 1e-3 : 1e-2) * want, `eigenvalue ${t}: ${s.values[t]} vs ${want}`)
        if (t >= 4) continue
        // Same direction up to sign: |<v_t, u_t>| = 1.
        let dot = 0
        for (let j = 0; j < d; j++) dot += s.vectors[t * d + j]! * dense.vectors[j * d + (d - 1 - t)]!
        assert.ok(Math.abs(Math.abs(dot) - 1) < 1e-2, `eigenvector ${t}: |cos| = ${Math.abs(dot)}`)
      }
      // Orthonormal rows, largest first, and the trace is the sum of squares.
      for (let a = 0; a < s.m; a++) {
        if (a > 0) assert.ok(s.values[a]! <= s.values[a - 1]! * (1 + 1e-12))
        for (let b = 0; b <= a; b++) {
          let dot = 0
          for (let j = 0; j < d; j++) dot += s.vectors[a * d + j]! * s.vectors[b * d + j]!
          assert.ok(Math.abs(dot - (a === b ? 1 : 0)) < 1e-6)
        }
      }
      let tr = 0
      for (let j = 0; j < d; j++) tr += dense.values[j]!
      assert.ok(Math.abs(s.trace - tr) < 1e-6 * tr)
      // The projection's columns are orthogonal with squared norms mu_t.
      const f = await projectOnto(engine, x, s)
      for (const [a, b] of [
        [0, 0],
        [3, 3],
        [0, 5],
        [2, 7],
      ] as const) {
        let dot = 0
        for (let i = 0; i < x.n; i++) dot += f.data[i * s.m + a]! * f.data[i * s.m + b]!
        const want = a === b ? s.values[a]! : 0
        assert.ok(Math.abs(dot - want) < 1e-4 * s.values[0]!, `F column ${a} . ${b} = ${dot}, want ${want}`)
      }
    } finally {
      await engine.dispose()
    }
  })

test('the spectral preconditioner applies the matrix its definition gives', async () => {
  const engine = await createEngine('ort')
  try {
    const { x } = backboneLike(2, 150, 40, 3)
    const k = 3
    const lambda = 1e-2
    const s = await principalSubspace(engine, x, 6)
    const pre = spectralPreconditioner(s, x.n, k, lambda)
    const d = x.d
    // Dense M = sum_t v v^T / (mu_t/(4n) + lambda) + (I - V V^T) / (mu_m/(4n) + lambda).
    const curv = (mu: number) => mu / (4 * x.n) + lambda
    const rest = 1 / curv(s.values[s.m - 1]!)
    const m = new Float64Array(d * d)
    for (let a = 0; a < d; a++) m[a * d + a] = rest
    for (let t = 0; t < s.m; t++) {
      const w = 1 / curv(s.values[t]!) - rest
      for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) m[a * d + b]! += w * s.vectors[t * d + a]! * s.vectors[t * d + b]!
    }
    const rng = createRng(9)
    const v = Float64Array.from({ length: (d + 1) * k }, () => rng.normal())
    const got = Float64Array.from(v)
    pre.apply(got)
    for (let c = 0; c < k; c++) {
      for (let a = 0; a < d; a++) {
        let want = 0
        for (let b = 0; b < d; b++) want += m[a * d + b]! * v[b * k + c]!
        assert.ok(Math.abs(got[a * k + c]! - want) < 1e-8 * (1 + Math.abs(want)), `row ${a} class ${c}`)
      }
      assert.ok(Math.abs(got[d * k + c]! - 4 * v[d * k + c]!) < 1e-12, 'the bias row is scaled by 4')
    }
  } finally {
    await engine.dispose()
  }
})

test('with the spectral preconditioner L-BFGS reaches the same optimum in fewer iterations', async () => {
  const engine = await createEngine('ort')
  try {
    const k = 4
    const { x, y } = backboneLike(3, 600, 160, k)
    const lambda = 1e-3
    const problem = new LinearProblem(await engine.load(x, k), false)
    try {
      const fo = { solver: 'lbfgs' as const, maxIter: 3000, gradTol: 1e-7, relTol: 0 }
      const diag = await fitTargets(
        problem,
        oneHot(y, k),
        'ce',
        lambda,
        new Float64Array(problem.size),
        { ...fo, precond: diagonalPreconditioner(x, k, lambda) },
        't',
      )
      const s = await principalSubspace(engine, x, 32)
      const spec = await fitTargets(
        problem,
        oneHot(y, k),
        'ce',
        lambda,
        new Float64Array(problem.size),
        { ...fo, precond: spectralPreconditioner(s, x.n, k, lambda) },
        't',
      )
      assert.ok(diag.info.converged && spec.info.converged)
      assert.ok(spec.info.iterations < diag.info.iterations, `spectral ${spec.info.iterations} vs diagonal ${diag.info.iterations} iterations`)
      // Strictly convex objective: both reach the same weights.
      let maxDiff = 0
      let maxW = 0
      for (let i = 0; i < diag.w.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(diag.w[i]! - spec.w[i]!))
        maxW = Math.max(maxW, Math.abs(diag.w[i]!))
      }
      assert.ok(maxDiff < 1e-3 * maxW, `weights differ by ${maxDiff} (max |w| ${maxW})`)
    } finally {
      await problem.dispose()
    }
  } finally {
    await engine.dispose()
  }
})

test('liftFromSubspace: the lifted model gives the projected features the same logits', async () => {
  const engine = await createEngine('ort')
  try {
    const k = 3
    const { x } = backboneLike(4, 80, 30, k)
    const s = await principalSubspace(engine, x, 5)
    const f = await projectOnto(engine, x, s)
    const rng = createRng(11)
    const w = Float64Array.from({ length: (s.m + 1) * k }, () => rng.normal())
    const lifted = liftFromSubspace(s, w, k)
    for (let i = 0; i < x.n; i += 7)
      for (let c = 0; c < k; c++) {
        let a = w[s.m * k + c]!
        for (let t = 0; t < s.m; t++) a += f.data[i * s.m + t]! * w[t * k + c]!
        let b = lifted[x.d * k + c]!
        for (let j = 0; j < x.d; j++) b += x.data[i * x.d + j]! * lifted[j * k + c]!
        assert.ok(Math.abs(a - b) < 1e-3 * (1 + Math.abs(a)), `row ${i} class ${c}: ${a} vs ${b}`)
      }
  } finally {
    await engine.dispose()
  }
})

test('a wide matrix with no exact basis: auto searches in the principal subspace and the final fit is the full-dimensional optimum', async () => {
  const k = 3
  // d > 1024 and n >= 0.75 d: neither the row-space reduction nor the eigenbasis rotation applies.
  const { x, y } = backboneLike(5, 900, 1100, k)
  assert.ok(usesSubspace(x.n, x.d))
  const auto = await refineArrays(x, y, k, { method: 'auto', seed: 1, lambdas: [1e-1, 1e-2, 1e-3] })
  const sub = auto.details.subspace as { dims: number; of: number; energy: number }
  assert.equal(sub.of, 1100)
  assert.ok(sub.dims > 0 && sub.dims < 1100 && sub.energy > 0.5 && sub.energy <= 1 + 1e-9)
  // The same method at the chosen lambda, fitted with the diagonal preconditioner only (no
  // subspace, no warm start: the tfjs engine path has none of it either) predicts the same labels.
  const lambda = Number(auto.chosen.lambda)
  const method = String(auto.chosen.method) as 'teacher' | 'sd' | 'pll'
  const plain = await refineArrays(x, y, k, {
    method,
    lambda,
    seed: 1,
    rounds: auto.chosen.rounds as number | undefined,
    pllLoss: (auto.chosen.pllLoss as 'gce' | 'ce' | undefined) ?? 'gce',
    solver: 'lbfgs',
    subspace: false,
  })
  let same = 0
  for (let i = 0; i < x.n; i++) if (plain.refined[i] === auto.refined[i]) same++
  assert.ok(same >= x.n - 2, `${x.n - same} of ${x.n} refined labels differ`)
})

test('more rows than selection uses and d <= 1024: the subspace and the search come from the selection rows, and the final fit is the full-dimensional optimum', async () => {
  const k = 3
  // 1400 x 520: the exact eigenbasis rotation would apply, but selection takes 700 rows and the
  // 256-d subspace is under half of d, so the principal subspace of those rows is used instead.
  const { x, y } = backboneLike(6, 1400, 520, k)
  assert.ok(!usesSubspace(x.n, x.d), 'all rows fit in the default selection sample: the exact rotation')
  assert.ok(usesSubspace(x.n, x.d, 700))
  assert.ok(!usesSubspace(x.n, 300, 700), 'a subspace of more than half the dimensions does not pay')
  const auto = await refineArrays(x, y, k, { method: 'auto', seed: 2, lambdas: [1e-1, 1e-2, 1e-3], selectionRows: 700 })
  const sel = auto.details.selection as { rows: number; searchSpace?: { dims: number; of: number } }
  assert.equal(sel.rows, 700)
  assert.equal(sel.searchSpace?.of, 520)
  const sub = auto.details.subspace as { dims: number; of: number; energy: number }
  assert.ok(sub.dims > 0 && sub.dims <= 256 && sub.energy > 0.5 && sub.energy <= 1 + 1e-9)
  // The same method at the chosen lambda without any subspace (the exact rotation, all rows) labels
  // the samples the same: the sampled subspace only preconditions the final fit.
  const plain = await refineArrays(x, y, k, {
    method: String(auto.chosen.method) as 'teacher' | 'sd' | 'pll',
    lambda: Number(auto.chosen.lambda),
    seed: 2,
    rounds: auto.chosen.rounds as number | undefined,
    pllLoss: (auto.chosen.pllLoss as 'gce' | 'ce' | undefined) ?? 'gce',
    subspace: false,
  })
  assert.equal(plain.details.subspace, undefined)
  let same = 0
  for (let i = 0; i < x.n; i++) if (plain.refined[i] === auto.refined[i]) same++
  assert.ok(same >= x.n - 3, `${x.n - same} of ${x.n} refined labels differ`)
})

test('confident learning on the sampled principal subspace: the spectral preconditioner changes the time, not the flags', async () => {
  const k = 3
  const { x, y } = backboneLike(7, 1400, 520, k)
  const opts = { method: 'cl' as const, lambda: 1e-2, seed: 3, selectionRows: 700 }
  const spectral = await refineArrays(x, y, k, opts)
  const plain = await refineArrays(x, y, k, { ...opts, subspace: false })
  // The subspace run has no exact basis; the other runs in the eigenbasis rotation.
  assert.equal(spectral.chosen.basis, undefined)
  assert.equal(plain.chosen.basis, 'rotated')
  let differ = 0
  for (let i = 0; i < x.n; i++) if (plain.flagged[i] !== spectral.flagged[i] || plain.refined[i] !== spectral.refined[i]) differ++
  assert.ok(differ <= 3, `${differ} of ${x.n} flags or suggestions differ`)
})
