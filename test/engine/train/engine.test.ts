import { test } from 'node:test'
import assert from 'node:assert/strict'
import { computeStandardization, createEngine, LinearProblem, predictModel, type LossKind } from '../../../electron/engine/train/engine.ts'
import { lbfgs } from '../../../electron/engine/train/solvers.ts'
import type { FeatureMatrix } from '../../../electron/engine/train/types.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

/** Independent float64 reference of the objective (formulas written out from scratch). */
function reference(
  x: FeatureMatrix,
  t: Float32Array,
  k: number,
  w: Float64Array,
  lambda: number,
  loss: LossKind,
  bias: boolean,
  std?: { mean: Float64Array; scale: Float64Array },
  q = 0.7,
): number {
  const { n, d } = x
  let total = 0
  for (let i = 0; i < n; i++) {
    const z = new Float64Array(k)
    for (let c = 0; c < k; c++) {
      let s = bias ? w[d * k + c]! : 0
      for (let j = 0; j < d; j++) {
        const v = std ? (x.data[i * d + j]! - std.mean[j]!) / std.scale[j]! : x.data[i * d + j]!
        s += v * w[j * k + c]!
      }
      z[c] = s
    }
    const mx = Math.max(...z)
    let se = 0
    for (let c = 0; c < k; c++) se += Math.exp(z[c]! - mx)
    for (let c = 0; c < k; c++) {
      const logp = z[c]! - mx - Math.log(se)
      const tc = t[i * k + c]!
      if (loss === 'ce') total -= tc * logp
      else total += (tc * (1 - Math.exp(q * logp))) / q
    }
  }
  let reg = 0
  for (let j = 0; j < d * k; j++) reg += w[j]! * w[j]!
  return total / n + 0.5 * lambda * reg
}

function randomProblem(seed: number, n: number, d: number, k: number) {
  const rng = createRng(seed)
  const data = new Float32Array(n * d)
  for (let i = 0; i < data.length; i++) data[i] = rng.normal() + 0.5
  const y = new Int32Array(n)
  for (let i = 0; i < n; i++) y[i] = rng.int(k)
  const w = new Float64Array((d + 1) * k)
  for (let i = 0; i < w.length; i++) w[i] = 0.3 * rng.normal()
  return { x: { data, n, d }, y, w }
}

function softTargets(y: Int32Array, k: number, seed: number): Float32Array {
  const rng = createRng(seed)
  const t = new Float32Array(y.length * k)
  for (let i = 0; i < y.length; i++) {
    let s = 0
    for (let c = 0; c < k; c++) s += t[i * k + c] = rng.next() + (c === y[i] ? 2 : 0)
    for (let c = 0; c < k; c++) t[i * k + c]! /= s
  }
  return t
}

function twoHot(y: Int32Array, k: number): Float32Array {
  const t = new Float32Array(y.length * k)
  for (let i = 0; i < y.length; i++) {
    t[i * k + y[i]!] = 0.5
    t[i * k + ((y[i]! + 1) % k)] = 0.5
  }
  return t
}

for (const loss of ['ce', 'gce'] as LossKind[]) {
  for (const variant of ['plain', 'bias+standardised'] as const) {
    test(`ort engine: ${loss} (${variant}) gradient matches central finite differences of a float64 reference`, async () => {
      const n = 60
      const d = 5
      const k = 4
      const { x, y, w } = randomProblem(loss === 'ce' ? 1 : 2, n, d, k)
      const bias = variant !== 'plain'
      const std = bias ? computeStandardization(x) : undefined
      if (!bias) for (let c = 0; c < k; c++) w[d * k + c] = 0
      const t = loss === 'ce' ? softTargets(y, k, 3) : twoHot(y, k)
      const lambda = 0.01
      const engine = await createEngine('ort', { blockRows: 17 }) // several blocks, the last one short
      const p = new LinearProblem(await engine.load(x, k), bias, std)
      await p.setTargets(t, loss)
      const { loss: f, grad } = await p.lossGrad(w, lambda)
      const fRef = reference(x, t, k, w, lambda, loss, bias, std)
      assert.ok(Math.abs(f - fRef) <= 1e-5 * Math.max(1, Math.abs(fRef)), `loss ${f} vs reference ${fRef}`)
      const h = 1e-5
      let maxErr = 0
      let maxG = 0
      for (let j = 0; j < w.length; j++) {
        if (!bias && j >= d * k) {
          assert.equal(grad[j], 0)
          continue
        }
        const wp = Float64Array.from(w)
        const wm = Float64Array.from(w)
        wp[j]! += h
        wm[j]! -= h
        const fd = (reference(x, t, k, wp, lambda, loss, bias, std) - reference(x, t, k, wm, lambda, loss, bias, std)) / (2 * h)
        maxErr = Math.max(maxErr, Math.abs(fd - grad[j]!))
        maxG = Math.max(maxG, Math.abs(fd))
      }
      // float32 engine vs float64 differences: relative to the gradient's scale.
      assert.ok(maxErr <= 1e-4 * Math.max(1, maxG), `max |fd - grad| = ${maxErr} (|g| ~ ${maxG})`)
      await p.dispose()
      await engine.dispose()
    })
  }
}

test('ort and tfjs engines agree to 1e-4 relative on the same inputs (tfjs on wasm where tfjs-node did not install)', async () => {
  const n = 300
  const d = 12
  const k = 5
  const { x, y, w } = randomProblem(7, n, d, k)
  const std = computeStandardization(x)
  const ort = await createEngine('ort', { blockRows: 128 })
  const tfjs = await createEngine('tfjs', { blockRows: 100 })
  // @tensorflow/tfjs-node is an optional dependency (its install downloads libtensorflow); where it
  // did not install, the wasm backend stands in, and this test runs on it.
  const nodePkg = '@tensorflow/tfjs-node'
  const haveNode = await import(nodePkg).then(
    () => true,
    () => false,
  )
  assert.equal(tfjs.backend, haveNode ? 'tfjs-node' : 'tfjs wasm')
  for (const loss of ['ce', 'gce'] as LossKind[]) {
    const t = loss === 'ce' ? softTargets(y, k, 9) : twoHot(y, k)
    const a = new LinearProblem(await ort.load(x, k), true, std)
    const b = new LinearProblem(await tfjs.load(x, k), true, std)
    await a.setTargets(t, loss)
    await b.setTargets(t, loss)
    const ra = await a.lossGrad(w, 1e-3)
    const rb = await b.lossGrad(w, 1e-3)
    assert.ok(Math.abs(ra.loss - rb.loss) <= 1e-4 * Math.abs(ra.loss), `${loss}: loss ${ra.loss} vs ${rb.loss}`)
    let gmax = 0
    let diff = 0
    for (let j = 0; j < w.length; j++) {
      gmax = Math.max(gmax, Math.abs(ra.grad[j]!))
      diff = Math.max(diff, Math.abs(ra.grad[j]! - rb.grad[j]!))
    }
    assert.ok(diff <= 1e-4 * gmax, `${loss}: gradient differs by ${diff} (scale ${gmax})`)
    const pa = await a.probs(w)
    const pb = await b.probs(w)
    let pd = 0
    for (let i = 0; i < pa.length; i++) pd = Math.max(pd, Math.abs(pa[i]! - pb[i]!))
    assert.ok(pd <= 1e-5, `${loss}: probabilities differ by ${pd}`)
    // A mini-batch (rows given) goes through the same math.
    const rows = Int32Array.from([5, 17, 299, 0, 42])
    const ma = await a.lossGrad(w, 1e-3, rows)
    const mb = await b.lossGrad(w, 1e-3, rows)
    assert.ok(Math.abs(ma.loss - mb.loss) <= 1e-4 * Math.abs(ma.loss))
    await a.dispose()
    await b.dispose()
  }
  await ort.dispose()
  await tfjs.dispose()
})

test('known optimum: two separable points have the closed-form solution of the regularised objective', async () => {
  // x = +1 labelled 0 and x = -1 labelled 1 (d = 1, K = 2, no bias). By symmetry the optimum has
  // W = [a, -a]; the objective is log(1 + exp(-2a)) + lambda a^2 (|W|^2 = 2a^2), so the optimum
  // solves 2 / (1 + exp(2a)) = 2 lambda a, i.e. 1 / (1 + exp(2a)) = lambda a. Solve by bisection.
  const lambda = 0.05
  let lo = 0
  let hi = 100
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2
    if (1 / (1 + Math.exp(2 * mid)) - lambda * mid > 0) lo = mid
    else hi = mid
  }
  const a = (lo + hi) / 2
  const x = { data: Float32Array.from([1, -1]), n: 2, d: 1 }
  const engine = await createEngine('ort')
  const p = new LinearProblem(await engine.load(x, 2), false)
  await p.setTargets(Float32Array.from([1, 0, 0, 1]), 'ce')
  const { w } = await lbfgs((v) => p.lossGrad(v, lambda), new Float64Array(p.size), { gradTol: 1e-9 })
  assert.ok(Math.abs(w[0]! - a) < 1e-5, `W[0] = ${w[0]}, closed form ${a}`)
  assert.ok(Math.abs(w[1]! + a) < 1e-5, `W[1] = ${w[1]}, closed form ${-a}`)
  await engine.dispose()
})

test('first-order optimality: at the L-BFGS solution W = -(1/lambda) X^T (P - T) / n', async () => {
  const n = 200
  const d = 6
  const k = 3
  const { x, y } = randomProblem(11, n, d, k)
  const t = new Float32Array(n * k)
  for (let i = 0; i < n; i++) t[i * k + y[i]!] = 1
  const lambda = 0.1
  const engine = await createEngine('ort')
  const p = new LinearProblem(await engine.load(x, k), false)
  await p.setTargets(t, 'ce')
  const { w, info } = await lbfgs((v) => p.lossGrad(v, lambda), new Float64Array(p.size), { gradTol: 1e-7, maxIter: 500 })
  assert.ok(info.gradNorm < 1e-5, `|g| = ${info.gradNorm} (${info.reason})`)
  // Independent check in float64: P from the solution, then the stationarity condition.
  const probs = await predictModel(engine, p.model(w), x)
  let maxDiff = 0
  let scale = 0
  for (let j = 0; j < d; j++) {
    for (let c = 0; c < k; c++) {
      let s = 0
      for (let i = 0; i < n; i++) s += x.data[i * d + j]! * (probs[i * k + c]! - t[i * k + c]!)
      const rhs = -s / n / lambda
      maxDiff = Math.max(maxDiff, Math.abs(w[j * k + c]! - rhs))
      scale = Math.max(scale, Math.abs(w[j * k + c]!))
    }
  }
  assert.ok(maxDiff <= 1e-5 * Math.max(1, scale), `stationarity residual ${maxDiff}`)
  await engine.dispose()
})
