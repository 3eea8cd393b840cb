/**
 * GPU check: runs the built-in backbone and the training engine on onnxruntime-node's WebGPU
 * execution provider (bundled with onnxruntime-node 1.30; Dawn over Vulkan on Linux, D3D12 on
 * Windows) and on the CPU, in one run, and prints agreement and throughput side by side: the
 * gradient evaluation with X fed on every evaluation and with X resident on the device (the
 * engine's `resident` option), against the CPU, what `resident: 'auto'` picks, and refined labels.
 *
 *   node --import tsx bench/gpu-check.ts [--ep webgpu] [--n 60000] [--d 784] [--reps 5]
 *   node --import tsx bench/gpu-check.ts --ep cpu    # the CPU alone: X resident vs fed, side by side
 *
 * On a machine without a usable GPU it says so and exits 0 (nothing to compare).
 */
import ort from 'onnxruntime-node'
import { buildBuiltinModel, builtinDim, BUILTIN_CONFIG } from '../electron/engine/backbone/builtin.ts'
import { createOrtEngine, type OrtEngine, type OrtEngineData, type OrtEngineOptions } from '../electron/engine/train/ort-engine.ts'
import type { RawSums } from '../electron/engine/train/engine.ts'
import { refineArrays } from '../electron/engine/train/refine.ts'
import type { FeatureMatrix } from '../electron/engine/train/types.ts'
import { mulberry32 } from '../electron/engine/util/rng.ts'

const args = process.argv.slice(2)
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] ? args[i + 1]! : def
}
const EP = opt('ep', 'webgpu')
const N = Number(opt('n', '60000'))
const D = Number(opt('d', '784'))
const REPS = Number(opt('reps', '5'))
const K = 10

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): { maxAbs: number; rel: number } {
  let maxAbs = 0
  let scale = 0
  for (let i = 0; i < a.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!))
    scale = Math.max(scale, Math.abs(a[i]!))
  }
  return { maxAbs, rel: maxAbs / (scale || 1) }
}

async function time<T>(reps: number, f: () => Promise<T>): Promise<{ seconds: number; last: T }> {
  let last = await f() // warm-up (shader compilation, allocations)
  const t0 = performance.now()
  for (let r = 0; r < reps; r++) last = await f()
  return { seconds: (performance.now() - t0) / 1000 / reps, last }
}

async function backbone(): Promise<void> {
  const bytes = buildBuiltinModel()
  const size = BUILTIN_CONFIG.size
  const batch = 64
  const r = mulberry32(1)
  const x = new Float32Array(batch * 3 * size * size)
  for (let i = 0; i < x.length; i++) x[i] = r()
  const feeds = (s: ort.InferenceSession) => ({ [s.inputNames[0]!]: new ort.Tensor('float32', x, [batch, 3, size, size]) })
  const cpu = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] })
  const gpu = await ort.InferenceSession.create(bytes, { executionProviders: [EP] })
  const tc = await time(5, async () => (await cpu.run(feeds(cpu)))[cpu.outputNames[0]!]!.data as Float32Array)
  const tg = await time(5, async () => (await gpu.run(feeds(gpu)))[gpu.outputNames[0]!]!.data as Float32Array)
  const diff = maxRelDiff(tc.last, tg.last)
  console.log(
    `backbone builtin (${builtinDim()}-d, batch ${batch}): cpu ${(batch / tc.seconds).toFixed(0)} img/s, ${EP} ${(batch / tg.seconds).toFixed(0)} img/s, ratio ${(tc.seconds / tg.seconds).toFixed(2)}x; max |diff| ${diff.maxAbs.toExponential(2)} (relative ${diff.rel.toExponential(2)})`,
  )
}

interface Variant {
  label: string
  opts: OrtEngineOptions
}

async function gradient(): Promise<void> {
  const r = mulberry32(2)
  const x = new Float32Array(N * D)
  for (let i = 0; i < x.length; i++) x[i] = r()
  const t = new Float32Array(N * K)
  for (let i = 0; i < N; i++) t[i * K + Math.floor(r() * K)] = 1
  const w = new Float32Array(D * K)
  for (let i = 0; i < w.length; i++) w[i] = (r() - 0.5) * 0.01
  const b = new Float32Array(K)
  const flops = 4 * N * D * K // X W and dZ^T X
  const mb = (v: number) => (v / 2 ** 20).toFixed(0)
  console.log(
    `gradient of ${N} x ${D}, K=${K} (X is ${mb(x.byteLength)} MB), best of ${REPS} timed evaluations each, alternating, after one warm-up:`,
  )
  const variants: Variant[] = [
    { label: 'cpu, X fed', opts: { executionProvider: 'cpu', resident: false } },
    { label: 'cpu, X resident', opts: { executionProvider: 'cpu', resident: true } },
  ]
  if (EP !== 'cpu') {
    variants.push(
      { label: `${EP}, X fed`, opts: { executionProvider: EP, resident: false } },
      { label: `${EP}, X resident`, opts: { executionProvider: EP, resident: true } },
    )
  }
  // Every variant is loaded and warmed up first (setup: session creation and, resident, X into the
  // graphs), then the timed evaluations alternate between the variants, so that a busy machine
  // slows all of them alike; the best time of each counts.
  const results: { label: string; ms: number; setup: number; rss: number; last: RawSums; backend: string }[] = []
  const live: { engine: OrtEngine; data: OrtEngineData }[] = []
  for (const v of variants) {
    const rss0 = process.memoryUsage().rss
    const engine = await createOrtEngine({ ...v.opts, log: (m) => console.log(`  [${v.label}] ${m}`) })
    const t0 = performance.now()
    const data = await engine.load({ data: x, n: N, d: D }, K)
    await data.setTargets(t, 'ce')
    const last = await data.sums(w, b)
    const setup = performance.now() - t0
    results.push({ label: v.label, ms: Infinity, setup, rss: process.memoryUsage().rss - rss0, last, backend: engine.backend })
    live.push({ engine, data })
  }
  for (let i = 0; i < REPS; i++) {
    for (let j = 0; j < live.length; j++) {
      const t1 = performance.now()
      results[j]!.last = await live[j]!.data.sums(w, b)
      results[j]!.ms = Math.min(results[j]!.ms, performance.now() - t1)
    }
  }
  for (const { engine, data } of live) {
    await data.dispose()
    await engine.dispose()
  }
  const base = results[0]!
  for (const res of results) {
    const diff = maxRelDiff(base.last.gw, res.last.gw)
    console.log(
      `  ${res.label.padEnd(22)} ${res.ms.toFixed(1).padStart(7)} ms/eval  ${(flops / res.ms / 1e6).toFixed(1).padStart(6)} GFLOP/s  ` +
        `cpu-fed/this ${(base.ms / res.ms).toFixed(2)}x  first evaluation with setup ${res.setup.toFixed(0)} ms  ` +
        `host RSS +${mb(res.rss)} MB at setup  gradient vs cpu fed ${diff.rel.toExponential(1)}, loss ${res.last.loss.toFixed(4)}  [${res.backend}]`,
    )
  }
  const find = (label: string) => results.find((x) => x.label === label)
  const side = (a: string, c: string) => {
    const ra = find(a)
    const rc = find(c)
    if (ra && rc) console.log(`  ${a} vs ${c}: ${ra.ms.toFixed(1)} vs ${rc.ms.toFixed(1)} ms/eval, ratio ${(rc.ms / ra.ms).toFixed(2)}x`)
  }
  side('cpu, X resident', 'cpu, X fed')
  if (EP !== 'cpu') {
    side(`${EP}, X resident`, `${EP}, X fed`)
    side(`${EP}, X resident`, 'cpu, X fed')
    side(`${EP}, X fed`, 'cpu, X fed')
  }
  // What the engine picks by itself ('auto', the default): on a GPU provider it times the resident
  // GPU variant against the fed CPU one at the first evaluation; on the CPU measureOnCpu does the
  // same with the resident CPU variant (off by default there because of its memory).
  const engine = await createOrtEngine({
    executionProvider: EP,
    resident: 'auto',
    ...(EP === 'cpu' ? { measureOnCpu: true } : {}),
    log: (m) => console.log(`  [auto] ${m}`),
  })
  const data = await engine.load({ data: x, n: N, d: D }, K)
  await data.setTargets(t, 'ce')
  await data.sums(w, b)
  console.log(`  resident 'auto' on ${EP}: ${engine.backend}`)
  await data.dispose()
  await engine.dispose()
}

async function refine(): Promise<void> {
  const n = 20000
  const d = 256
  const r = mulberry32(3)
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r())
  const centres = Array.from({ length: K }, () => Array.from({ length: d }, () => 0.35 * gauss()))
  const x = new Float32Array(n * d)
  const y = new Int32Array(n)
  const truth = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const c = i % K
    truth[i] = c
    for (let j = 0; j < d; j++) x[i * d + j] = centres[c]![j]! + gauss()
    y[i] = r() < 0.6 ? (c + 1 + Math.floor(r() * (K - 1))) % K : c
  }
  const fm: FeatureMatrix = { data: x, n, d }
  const given = (100 * y.reduce((a, v, i) => a + (v === truth[i] ? 1 : 0), 0)) / n
  // refineArrays takes no engine options; QC_ORT_RESIDENT (read by the engine) forces the variant.
  const runs: { label: string; ep: string; resident: string }[] = [
    { label: 'cpu, X fed', ep: 'cpu', resident: 'false' },
    { label: 'cpu, X resident', ep: 'cpu', resident: 'true' },
  ]
  if (EP !== 'cpu') {
    runs.push(
      { label: `${EP}, X fed`, ep: EP, resident: 'false' },
      { label: `${EP}, X resident`, ep: EP, resident: 'true' },
      { label: `${EP}, auto`, ep: EP, resident: 'auto' },
    )
  }
  const out: { label: string; refined: Int32Array; s: number }[] = []
  const saved = process.env.QC_ORT_RESIDENT
  // One run first, not reported: the first refine of a process pays for loading and compiling code.
  await refineArrays(fm, y, K, { method: 'pll', lambda: 1e-3, pllLoss: 'gce', executionProvider: 'cpu' })
  for (const run of runs) {
    process.env.QC_ORT_RESIDENT = run.resident
    const t0 = performance.now()
    const res = await refineArrays(fm, y, K, { method: 'pll', lambda: 1e-3, pllLoss: 'gce', executionProvider: run.ep })
    const s = (performance.now() - t0) / 1000
    out.push({ label: run.label, refined: res.refined, s })
    const acc = res.refined.reduce((a, v, i) => a + (v === truth[i] ? 1 : 0), 0) / n
    let same = 0
    for (let i = 0; i < n; i++) if (res.refined[i] === out[0]!.refined[i]) same++
    console.log(
      `refine teacher+PLL (n=${n}, d=${d}, symmetric 0.6) ${run.label.padEnd(18)} ${s.toFixed(1).padStart(6)} s (cpu-fed/this ${(out[0]!.s / s).toFixed(2)}x), ` +
        `refined labels correct ${(100 * acc).toFixed(1)}% (given ${given.toFixed(1)}%), identical to cpu fed ${((100 * same) / n).toFixed(2)}%  [${String(res.details.engine)}]`,
    )
  }
  if (saved === undefined) delete process.env.QC_ORT_RESIDENT
  else process.env.QC_ORT_RESIDENT = saved
}

if (EP === 'cpu') {
  console.log('--ep cpu: the CPU alone, X resident vs fed (no GPU figures in this run)')
  await gradient()
  await refine()
  process.exit(0)
}
try {
  await ort.InferenceSession.create(buildBuiltinModel(), { executionProviders: [EP] })
} catch (e) {
  const why = (e as Error).message.split('\n').filter((l) => l.trim())
  console.log(`no usable ${EP} device here: ${why[why.length - 1] ?? 'session creation failed'}`)
  console.log('nothing to compare, no GPU figures; for the CPU alone (X resident vs fed, side by side): --ep cpu')
  process.exit(0)
}
await backbone()
await gradient()
await refine()
