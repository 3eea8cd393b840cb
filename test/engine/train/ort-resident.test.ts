/**
 * The resident variant of the onnxruntime engine (X baked into per-block graphs, so that on a GPU
 * it is uploaded once) against the fed one (X fed as views on every evaluation) and an independent
 * float64 computation; the 'auto' choice and the fallback from a GPU provider that cannot start.
 * Everything here runs on the CPU execution provider; no timings are asserted.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as ort from 'onnxruntime-node'
import { createEngine, type LossKind, type RawSums } from '../../../electron/engine/train/engine.ts'
import { createOrtEngine, type OrtEngineData, type OrtEngineOptions } from '../../../electron/engine/train/ort-engine.ts'
import type { FeatureMatrix } from '../../../electron/engine/train/types.ts'
import { buildModel, DataType } from '../../../electron/engine/onnx/proto.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

/** Raw sums in float64, written out from the formulas in engine.ts (not from the engine's code). */
function referenceSums(x: FeatureMatrix, t: Float32Array, k: number, w: Float32Array, b: Float32Array, loss: LossKind, q: number): RawSums {
  const { n, d } = x
  let total = 0
  const gw = new Float64Array(d * k)
  const gb = new Float64Array(k)
  for (let i = 0; i < n; i++) {
    const z = new Float64Array(k)
    for (let c = 0; c < k; c++) {
      let s = b[c]!
      for (let j = 0; j < d; j++) s += x.data[i * d + j]! * w[j * k + c]!
      z[c] = s
    }
    const mx = Math.max(...z)
    let se = 0
    for (let c = 0; c < k; c++) se += Math.exp(z[c]! - mx)
    const p = new Float64Array(k)
    for (let c = 0; c < k; c++) p[c] = Math.exp(z[c]! - mx) / se
    const dz = new Float64Array(k)
    if (loss === 'ce') {
      for (let c = 0; c < k; c++) {
        total -= t[i * k + c]! * Math.log(p[c]!)
        dz[c] = p[c]! - t[i * k + c]!
      }
    } else {
      // l = sum_c t_c (1 - p_c^q) / q; dl/dz_j = -sum_c t_c p_c^q (delta_cj - p_j)
      const a = new Float64Array(k)
      let sa = 0
      for (let c = 0; c < k; c++) {
        a[c] = t[i * k + c]! * Math.pow(p[c]!, q)
        sa += a[c]!
        total += (t[i * k + c]! * (1 - Math.pow(p[c]!, q))) / q
      }
      for (let c = 0; c < k; c++) dz[c] = sa * p[c]! - a[c]!
    }
    for (let c = 0; c < k; c++) {
      gb[c]! += dz[c]!
      for (let j = 0; j < d; j++) gw[j * k + c]! += x.data[i * d + j]! * dz[c]!
    }
  }
  return { loss: total, gw, gb }
}

/** Largest difference relative to the larger array's scale (1 at least). */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0
  let scale = 1
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!))
    scale = Math.max(scale, Math.abs(a[i]!), Math.abs(b[i]!))
  }
  return diff / scale
}

function assertSumsClose(got: RawSums, want: RawSums, tol: number, what: string): void {
  const dl = Math.abs(got.loss - want.loss) / Math.max(1, Math.abs(want.loss))
  assert.ok(dl <= tol, `${what}: loss ${got.loss} vs ${want.loss}`)
  const dw = relDiff(got.gw, want.gw)
  assert.ok(dw <= tol, `${what}: gw differs by ${dw} (relative)`)
  const db = relDiff(got.gb, want.gb)
  assert.ok(db <= tol, `${what}: gb differs by ${db} (relative)`)
}

function problem(seed: number, n: number, d: number, k: number) {
  const rng = createRng(seed)
  const data = new Float32Array(n * d)
  for (let i = 0; i < data.length; i++) data[i] = rng.normal() + 0.3
  const w = new Float32Array(d * k)
  for (let i = 0; i < w.length; i++) w[i] = 0.3 * rng.normal()
  const b = new Float32Array(k)
  for (let c = 0; c < k; c++) b[c] = 0.5 * rng.normal()
  // Soft targets and two-hot (PLL-like) targets, rows summing to 1.
  const soft = new Float32Array(n * k)
  const twoHot = new Float32Array(n * k)
  for (let i = 0; i < n; i++) {
    const y = rng.int(k)
    let s = 0
    for (let c = 0; c < k; c++) s += soft[i * k + c] = rng.next() + (c === y ? 2 : 0)
    for (let c = 0; c < k; c++) soft[i * k + c]! /= s
    twoHot[i * k + y] = 0.5
    twoHot[i * k + ((y + 1 + rng.int(k - 1)) % k)] = 0.5
  }
  return { x: { data, n, d } as FeatureMatrix, w, b, soft, twoHot }
}

// 203 rows in blocks of 40: five full blocks and a short last one of 3 rows.
const N = 203
const D = 9
const K = 4
const BLOCK = 40
const TOL = 2e-5 // float32 arithmetic against float64

for (const loss of ['ce', 'gce'] as LossKind[]) {
  test(`resident X on the cpu: ${loss} loss and gradients equal the fed variant's and a float64 computation, over several blocks (last one short), after the targets are replaced`, async () => {
    const { x, w, b, soft, twoHot } = problem(loss === 'ce' ? 21 : 22, N, D, K)
    const other: LossKind = loss === 'ce' ? 'gce' : 'ce'
    const q = loss === 'gce' ? 0.5 : 0.7 // a non-default exponent must reach the graph
    // Second targets: for 'ce' the soft targets with rows and classes reversed, for 'gce' two-hot.
    const second = loss === 'ce' ? soft.slice().reverse() : twoHot
    const results: Record<string, RawSums[]> = {}
    for (const resident of [false, true]) {
      const engine = await createOrtEngine({ blockRows: BLOCK, resident })
      const data = await engine.load(x, K)
      assert.deepEqual(data.placement, { ep: 'cpu', resident, reason: '' })
      const out: RawSums[] = []
      // First targets (and the other loss), then the ones under test: the second call must win.
      await data.setTargets(soft, other)
      out.push(await data.sums(w, b))
      await data.setTargets(second, loss, q)
      out.push(await data.sums(w, b))
      results[String(resident)] = out
      await data.dispose()
      await engine.dispose()
    }
    const ref1 = referenceSums(x, soft, K, w, b, other, 0.7)
    const ref2 = referenceSums(x, second, K, w, b, loss, q)
    // The two target sets give different sums (so a stale target would be caught).
    assert.ok(relDiff(ref1.gw, ref2.gw) > 1e-2)
    for (const resident of ['false', 'true']) {
      assertSumsClose(results[resident]![0]!, ref1, TOL, `resident=${resident}, first targets (${other})`)
      assertSumsClose(results[resident]![1]!, ref2, TOL, `resident=${resident}, replaced targets (${loss})`)
    }
    assertSumsClose(results.true![1]!, results.false![1]!, 1e-5, 'resident vs fed')
  })
}

test('resident X on the cpu: mini-batches and probabilities still match the fed engine', async () => {
  const { x, w, b, soft } = problem(23, N, D, K)
  const fed = await createOrtEngine({ blockRows: BLOCK, resident: false })
  const res = await createOrtEngine({ blockRows: BLOCK, resident: true })
  const a = await fed.load(x, K)
  const r = await res.load(x, K)
  await a.setTargets(soft, 'ce')
  await r.setTargets(soft, 'ce')
  const rows = Int32Array.from([0, 39, 40, 202, 117])
  const sub: FeatureMatrix = { data: new Float32Array(rows.length * D), n: rows.length, d: D }
  const subT = new Float32Array(rows.length * K)
  rows.forEach((row, i) => {
    sub.data.set(x.data.subarray(row * D, row * D + D), i * D)
    subT.set(soft.subarray(row * K, row * K + K), i * K)
  })
  assertSumsClose(await r.sums(w, b, rows), referenceSums(sub, subT, K, w, b, 'ce', 0.7), TOL, 'resident engine, mini-batch')
  assert.ok(relDiff(await r.probs(w, b), await a.probs(w, b)) <= 1e-6)
  await a.dispose()
  await r.dispose()
  await fed.dispose()
  await res.dispose()
})

test("'auto' on the cpu keeps X fed as views of the caller's array (no copy); the explicit resident variant holds its own copy", async () => {
  const { x, w, b, soft } = problem(24, N, D, K)
  for (const opts of [{}, { resident: 'auto' }] as OrtEngineOptions[]) {
    const engine = await createOrtEngine({ ...opts, blockRows: BLOCK })
    assert.equal(engine.backend, 'onnxruntime cpu')
    const data = await engine.load({ ...x, data: x.data.slice() }, K)
    assert.deepEqual(data.placement, { ep: 'cpu', resident: false, reason: '' })
    await engine.dispose()
  }
  // What "no copy" means observably: the engine reads the caller's array at each evaluation, so a
  // change to it (which callers must not make) shows up; the resident variant computes on the copy
  // it baked into its graphs at the first evaluation.
  for (const resident of ['auto', true] as const) {
    const mine = x.data.slice()
    const engine = await createOrtEngine({ blockRows: BLOCK, resident })
    const data = await engine.load({ ...x, data: mine }, K)
    await data.setTargets(soft, 'ce')
    const before = await data.sums(w, b)
    mine.fill(0)
    const after = await data.sums(w, b)
    const zeros = referenceSums({ ...x, data: mine }, soft, K, w, b, 'ce', 0.7)
    if (resident === 'auto') assertSumsClose(after, zeros, TOL, 'fed: reads the caller array')
    else assertSumsClose(after, before, 1e-6, 'resident: its own copy')
    await data.dispose()
    await engine.dispose()
  }
})

test("'auto' measurement (exercised on the cpu with measureOnCpu): both variants are timed, the faster is kept, and the results are right", async () => {
  const { x, w, b, twoHot } = problem(25, N, D, K)
  const logs: string[] = []
  const engine = await createOrtEngine({ blockRows: BLOCK, resident: 'auto', measureOnCpu: true, autoMinWork: 0, log: (m) => logs.push(m) })
  const data = await engine.load(x, K)
  assert.equal(data.placement, undefined, 'decided at the first full evaluation')
  await data.setTargets(twoHot, 'gce')
  const first = await data.sums(w, b)
  const p = data.placement!
  assert.ok(p.timings && p.timings.resident > 0 && p.timings.cpu > 0, JSON.stringify(p))
  assert.equal(p.resident, p.timings.resident < p.timings.cpu)
  assert.equal(p.ep, 'cpu')
  assert.equal(logs.length, 1)
  assert.match(logs[0]!, /cpu with X resident [\d.]+ ms per evaluation, cpu \(fed\) [\d.]+ ms; training on cpu/)
  assert.match(engine.backend, p.resident ? /X resident \(measured/ : /faster than cpu with X resident/)
  const ref = referenceSums(x, twoHot, K, w, b, 'gce', 0.7)
  assertSumsClose(first, ref, TOL, 'the measured evaluation')
  assertSumsClose(await data.sums(w, b), ref, TOL, 'after the choice')
  assert.equal(logs.length, 1, 'measured once per loaded matrix')
  await data.dispose()
  await engine.dispose()
})

/** Whether onnxruntime can start WebGPU here (then the fallback tests have nothing to fall back from). */
async function webgpuWorks(): Promise<boolean> {
  const m = buildModel({
    graph: {
      name: 'id',
      nodes: [{ op: 'Identity', inputs: ['X'], outputs: ['Y'] }],
      inputs: [{ name: 'X', type: DataType.FLOAT, shape: [1] }],
      outputs: [{ name: 'Y', type: DataType.FLOAT, shape: [1] }],
    },
  })
  try {
    const s = await ort.InferenceSession.create(m, { executionProviders: ['webgpu'], logSeverityLevel: 4 })
    await s.release()
    return true
  } catch {
    return false
  }
}

const gpuHere = await webgpuWorks()

for (const resident of [true, 'auto', false] as const) {
  test(
    `a GPU provider that cannot start (webgpu without a GPU), resident ${resident}: training falls back to the cpu with the cpu's results and a recorded reason`,
    { skip: gpuHere ? 'webgpu works on this machine: nothing to fall back from' : false },
    async () => {
      const { x, w, b, soft, twoHot } = problem(26, N, D, K)
      const logs: string[] = []
      const engine = await createOrtEngine({ executionProvider: 'webgpu', resident, blockRows: BLOCK, autoMinWork: 0, log: (m) => logs.push(m) })
      const data = await engine.load(x, K)
      const cpu = await createEngine('ort', { blockRows: BLOCK })
      const ref = await cpu.load(x, K)
      for (const [t, loss] of [
        [soft, 'ce'],
        [twoHot, 'gce'],
      ] as const) {
        await data.setTargets(t, loss)
        await ref.setTargets(t, loss)
        assertSumsClose(await data.sums(w, b), await ref.sums(w, b), 1e-6, `${loss} vs the cpu engine`)
        assertSumsClose(await data.sums(w, b), referenceSums(x, t, K, w, b, loss, 0.7), TOL, `${loss} vs float64`)
      }
      assert.ok(relDiff(await data.probs(w, b), await ref.probs(w, b)) <= 1e-6)
      assert.equal(data.placement?.ep, 'cpu')
      assert.equal(data.placement?.resident, false, 'the cpu fallback feeds X (no extra copy)')
      assert.match(data.placement!.reason, /execution provider 'webgpu' unavailable: \S/)
      assert.ok(engine.gpuFailure && engine.gpuFailure.length > 0)
      assert.match(engine.backend, /^onnxruntime cpu \(execution provider 'webgpu' unavailable: /)
      assert.equal(logs.length, 1, logs.join('\n'))
      assert.match(logs[0]!, /execution provider 'webgpu' failed \(.+\); training on cpu/)
      // A second matrix on the same engine goes straight to the cpu, without trying the GPU again.
      const again = await engine.load(x, K)
      assert.equal(again.placement?.ep, 'cpu')
      assert.equal(logs.length, 1)
      await again.dispose()
      await data.dispose()
      await ref.dispose()
      await cpu.dispose()
      await engine.dispose()
    },
  )
}

test("'auto' on a GPU provider leaves a matrix too small to pay on the cpu without trying the GPU", async () => {
  const { x, w, b, soft } = problem(27, N, D, K)
  const logs: string[] = []
  const engine = await createOrtEngine({ executionProvider: 'webgpu', blockRows: BLOCK, log: (m) => logs.push(m) })
  const data = await engine.load(x, K)
  assert.equal(data.placement?.ep, 'cpu')
  assert.match(data.placement!.reason, /too small to pay for webgpu; not timed/)
  await data.setTargets(soft, 'ce')
  assertSumsClose(await data.sums(w, b), referenceSums(x, soft, K, w, b, 'ce', 0.7), TOL, 'small matrix on the cpu')
  assert.equal(engine.gpuFailure, undefined, 'the GPU was not tried')
  assert.match(logs.join('\n'), /too small to pay for webgpu, training on cpu/)
  await data.dispose()
  await engine.dispose()
})

test('QC_ORT_RESIDENT sets the default variant for engines created without the option (as refine creates them)', async () => {
  const { x } = problem(28, N, D, K)
  const saved = process.env.QC_ORT_RESIDENT
  try {
    for (const [value, resident] of [
      ['true', true],
      ['false', false],
      ['auto', false],
    ] as const) {
      process.env.QC_ORT_RESIDENT = value
      const engine = await createEngine('ort', { blockRows: BLOCK })
      const data = (await engine.load(x, K)) as OrtEngineData
      assert.equal(data.placement?.resident, resident, value)
      await engine.dispose()
    }
    process.env.QC_ORT_RESIDENT = 'sometimes'
    await assert.rejects(createOrtEngine(), /QC_ORT_RESIDENT must be true, false or auto/)
  } finally {
    if (saved === undefined) delete process.env.QC_ORT_RESIDENT
    else process.env.QC_ORT_RESIDENT = saved
  }
})
