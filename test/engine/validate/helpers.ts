/** Shared fixtures for the validation tests: Gaussian-cluster features and a stand-in refine. */
import type { FeatureMatrix, RefineOptions, RefineResult } from '../../../electron/engine/train/types.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

/** n samples in k Gaussian clusters (centres 3 sd apart on average), labels i % k. */
export function gaussianClusters(n: number, k: number, d: number, seed: number, centres?: number[][]) {
  const rng = createRng(seed)
  const c = centres ?? Array.from({ length: k }, () => Array.from({ length: d }, () => 2 * rng.normal()))
  const data = new Float32Array(n * d)
  const y = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const cls = (i * 7 + (i >> 3)) % k // not simply i % k, so order carries no pattern
    y[i] = cls
    for (let j = 0; j < d; j++) data[i * d + j] = c[cls]![j]! + rng.normal()
  }
  return { x: { data, n, d } as FeatureMatrix, y, centres: c }
}

/**
 * A small, deterministic stand-in for refineArrays: a nearest-class-mean classifier with softmax
 * over negative squared distances. 'sd' re-estimates the means from the previous round's soft
 * outputs `rounds` times. It is not the paper's method; it only gives the sweep something real to
 * measure without the training engine.
 */
export async function standInRefine(x: FeatureMatrix, y: Int32Array, k: number, opts: RefineOptions): Promise<RefineResult> {
  const { n, d, data } = x
  let targets = new Float32Array(n * k)
  for (let i = 0; i < n; i++) targets[i * k + y[i]!] = 1
  const fit = (t: Float32Array) => {
    const mu = new Float64Array(k * d)
    const w = new Float64Array(k)
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < k; c++) {
        const a = t[i * k + c]!
        if (a === 0) continue
        w[c]! += a
        for (let j = 0; j < d; j++) mu[c * d + j]! += a * data[i * d + j]!
      }
    }
    for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) mu[c * d + j]! /= Math.max(w[c]!, 1e-9)
    return mu
  }
  const probsOf = (mu: Float64Array, m: FeatureMatrix) => {
    const p = new Float32Array(m.n * k)
    const z = new Float64Array(k)
    for (let i = 0; i < m.n; i++) {
      let mx = -Infinity
      for (let c = 0; c < k; c++) {
        let s = 0
        for (let j = 0; j < d; j++) s += (m.data[i * d + j]! - mu[c * d + j]!) ** 2
        z[c] = -s / (2 * d)
        mx = Math.max(mx, z[c]!)
      }
      let tot = 0
      for (let c = 0; c < k; c++) tot += z[c] = Math.exp(z[c]! - mx)
      for (let c = 0; c < k; c++) p[i * k + c] = z[c]! / tot
    }
    return p
  }
  let mu = fit(targets)
  let probs = probsOf(mu, x)
  const rounds = opts.method === 'sd' ? (opts.rounds ?? 1) : 0
  for (let r = 0; r < rounds; r++) {
    if (opts.signal?.aborted) throw new Error('aborted')
    targets = probs
    mu = fit(targets)
    probs = probsOf(mu, x)
  }
  const refined = new Int32Array(n)
  const confidence = new Float32Array(n)
  const top2 = new Int32Array(n)
  const top2Prob = new Float32Array(n)
  const flagged = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    let a = 0
    let b = -1
    for (let c = 1; c < k; c++) {
      if (probs[i * k + c]! > probs[i * k + a]!) {
        b = a
        a = c
      } else if (b < 0 || probs[i * k + c]! > probs[i * k + b]!) b = c
    }
    refined[i] = a
    confidence[i] = probs[i * k + a]!
    top2[i] = b
    top2Prob[i] = probs[i * k + b]!
    flagged[i] = a !== y[i] ? 1 : 0
  }
  const finalMu = mu
  return {
    method: opts.method === 'auto' ? 'teacher' : opts.method,
    n,
    k,
    probs,
    refined,
    confidence,
    top1: refined,
    top1Prob: confidence,
    top2,
    top2Prob,
    flagged,
    rank: new Int32Array(n),
    chosen: { standIn: true, rounds },
    details: {},
    timings: {},
    predict: async (m) => probsOf(finalMu, m),
  }
}
