/**
 * GPU check: runs the built-in backbone and the training engine on onnxruntime-node's WebGPU
 * execution provider (bundled with onnxruntime-node 1.30; Dawn over Vulkan on Linux, D3D12 on
 * Windows) and on the CPU, in one run, and prints agreement and throughput side by side.
 *
 *   node --import tsx bench/gpu-check.ts [--ep webgpu] [--n 60000] [--d 784]
 *
 * On a machine without a usable GPU it says so and exits 0 (nothing to compare).
 */
import ort from 'onnxruntime-node'
import { buildBuiltinModel, builtinDim, BUILTIN_CONFIG } from '../electron/engine/backbone/builtin.ts'
import { createEngine } from '../electron/engine/train/engine.ts'
import { refineArrays } from '../electron/engine/train/refine.ts'
import type { FeatureMatrix } from '../electron/engine/train/types.ts'
import { buildModel, DataType } from '../electron/engine/onnx/proto.ts'
import { mulberry32 } from '../electron/engine/util/rng.ts'

const args = process.argv.slice(2)
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] ? args[i + 1]! : def
}
const EP = opt('ep', 'webgpu')
const N = Number(opt('n', '60000'))
const D = Number(opt('d', '784'))
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

async function gradient(): Promise<void> {
  const r = mulberry32(2)
  const x = new Float32Array(N * D)
  for (let i = 0; i < x.length; i++) x[i] = r()
  const t = new Float32Array(N * K)
  for (let i = 0; i < N; i++) t[i * K + Math.floor(r() * K)] = 1
  const w = new Float32Array(D * K)
  for (let i = 0; i < w.length; i++) w[i] = (r() - 0.5) * 0.01
  const b = new Float32Array(K)
  const flops = 4 * N * D * K // X W and X^T dZ
  const results: Record<string, { s: number; gw: Float64Array; loss: number }> = {}
  for (const ep of ['cpu', EP]) {
    const engine = await createEngine('ort', { executionProvider: ep })
    const data = await engine.load({ data: x, n: N, d: D }, K)
    await data.setTargets(t, 'ce')
    const res = await time(5, () => data.sums(w, b))
    results[ep] = { s: res.seconds, gw: res.last.gw, loss: res.last.loss }
    console.log(
      `gradient ${N}x${D}, K=${K} on ${engine.backend}: ${(res.seconds * 1000).toFixed(1)} ms/eval, ${(flops / res.seconds / 1e9).toFixed(1)} GFLOP/s`,
    )
    await data.dispose()
    await engine.dispose()
  }
  // Where does the GPU time go? Larger blocks (fewer runs per evaluation), and X baked into the
  // graph as an initializer (uploaded once, resident on the device) instead of fed per run.
  for (const blockRows of [16384, 65536]) {
    const engine = await createEngine('ort', { executionProvider: EP, blockRows })
    const data = await engine.load({ data: x, n: N, d: D }, K)
    await data.setTargets(t, 'ce')
    const res = await time(5, () => data.sums(w, b))
    console.log(
      `gradient on ${engine.backend}, blocks of ${blockRows} rows: ${(res.seconds * 1000).toFixed(1)} ms/eval, ${(flops / res.seconds / 1e9).toFixed(1)} GFLOP/s`,
    )
    await data.dispose()
    await engine.dispose()
  }
  {
    const resident = buildModel({
      graph: {
        name: 'resident-x',
        nodes: [
          { op: 'MatMul', inputs: ['X', 'W'], outputs: ['Z'] },
          { op: 'Softmax', inputs: ['Z'], outputs: ['P'], attrs: { axis: { i: 1 } } },
          { op: 'Sub', inputs: ['P', 'T'], outputs: ['dZ'] },
          { op: 'Gemm', inputs: ['dZ', 'X'], outputs: ['gw'], attrs: { transA: { i: 1 } } },
        ],
        initializers: [{ name: 'X', dims: [N, D], data: x }],
        inputs: [
          { name: 'W', type: DataType.FLOAT, shape: [D, K] },
          { name: 'T', type: DataType.FLOAT, shape: [N, K] },
        ],
        outputs: [{ name: 'gw', type: DataType.FLOAT, shape: [K, D] }],
      },
    })
    for (const ep of ['cpu', EP]) {
      const s = await ort.InferenceSession.create(resident, { executionProviders: [ep] })
      const feeds = { W: new ort.Tensor('float32', w, [D, K]), T: new ort.Tensor('float32', t, [N, K]) }
      const res = await time(5, () => s.run(feeds))
      console.log(
        `gradient with X resident in the graph on ${ep}: ${(res.seconds * 1000).toFixed(1)} ms/eval, ${(flops / res.seconds / 1e9).toFixed(1)} GFLOP/s`,
      )
      await s.release()
    }
  }
  const c = results.cpu!
  const g = results[EP]!
  const diff = maxRelDiff(c.gw, g.gw)
  console.log(
    `gradient agreement cpu vs ${EP}: loss ${c.loss.toFixed(4)} vs ${g.loss.toFixed(4)}, gradient max relative diff ${diff.rel.toExponential(2)}; speed ratio ${(c.s / g.s).toFixed(2)}x`,
  )
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
  const out: Record<string, { refined: Int32Array; s: number }> = {}
  for (const ep of ['cpu', EP]) {
    const t0 = performance.now()
    const res = await refineArrays(fm, y, K, { method: 'pll', lambda: 1e-3, pllLoss: 'gce', executionProvider: ep })
    out[ep] = { refined: res.refined, s: (performance.now() - t0) / 1000 }
    const acc = res.refined.reduce((a, v, i) => a + (v === truth[i] ? 1 : 0), 0) / n
    console.log(
      `refine teacher+PLL (n=${n}, d=${d}, symmetric 0.6) on ${ep}: ${out[ep]!.s.toFixed(1)} s, refined labels correct ${(100 * acc).toFixed(1)}% (given ${((100 * y.reduce((a, v, i) => a + (v === truth[i] ? 1 : 0), 0)) / n).toFixed(1)}%)`,
    )
  }
  const a = out.cpu!.refined
  const b = out[EP]!.refined
  let same = 0
  for (let i = 0; i < n; i++) if (a[i] === b[i]) same++
  console.log(`refined labels identical on cpu and ${EP}: ${((100 * same) / n).toFixed(2)}%; time ratio ${(out.cpu!.s / out[EP]!.s).toFixed(2)}x`)
}

try {
  await ort.InferenceSession.create(buildBuiltinModel(), { executionProviders: [EP] })
} catch (e) {
  console.log(`no usable ${EP} device here: ${(e as Error).message.split('\n').slice(-1)[0]}`)
  process.exit(0)
}
await backbone()
await gradient()
await refine()
