/**
 * Linear-probe measurement behind the built-in backbone's configuration (BENCHMARKS.md, "The
 * built-in backbone: a bar to clear"): clean labels, features standardised by the training mean and
 * std, multinomial logistic regression with a bias and L2 penalty lambda/2 |W|^2 (lambda 1e-3) on
 * the mean cross-entropy, fitted by L-BFGS to convergence; first 20k Fashion-MNIST training
 * images, full 10k test set. Reference figures from BENCHMARKS.md: raw pixels 83.6%, 64 random
 * 5x5 filters + ReLU + 4x4 average pooling (1024-d) 89.5%.
 *
 * Images go through the real preprocessing (sharp resize, the backbone's spec) and the real ONNX
 * graph. "colour" runs the same images colourised with a random foreground and background colour
 * per image (independent of the class, fixed seed), as a check that the built-in holds up on
 * colour input where colour is a nuisance.
 *
 * Usage: node --import tsx bench/backbone-probe.ts [--data /tmp/fmnist] [--train 20000] [--only NAME,...]
 *          [--inputs gray,colour] [--configs '{"name": {partial BuiltinConfig}, ...}']
 * The data folder comes from `node ../shared/datasets/fashion-mnist.mjs DIR --no-images`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { buildModel, DataType, floatTensor, int64Tensor } from '../electron/engine/onnx/proto.ts'
import { BUILTIN_CONFIG, builtinDim, builtinPreprocess, buildBuiltinModel, type BuiltinConfig } from '../electron/engine/backbone/builtin.ts'
import { decodeImagePixels, pixelsToTensor, inputSize } from '../electron/engine/backbone/preprocess.ts'
import { parseNpy } from '../electron/engine/util/npy.ts'
import { mulberry32 } from '../electron/engine/util/rng.ts'

const args = process.argv.slice(2)
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] ? args[i + 1]! : def
}
const dataDir = opt('data', '/tmp/fmnist')
const nTrain = Number(opt('train', '20000'))
const only = opt('only', '').split(',').filter(Boolean)
const inputs = opt('inputs', 'gray,colour')
  .split(',')
  .map((s) => s === 'colour')
const LAMBDA = 1e-3
const K = 10

function readLabels(file: string): Int32Array {
  const lines = readFileSync(file, 'utf8').trim().split('\n').slice(1)
  const names = new Map<string, number>()
  const out = new Int32Array(lines.length)
  lines.forEach((l, i) => {
    const name = l.slice(l.lastIndexOf(',') + 1)
    if (!names.has(name)) names.set(name, names.size)
    out[i] = names.get(name)!
  })
  return out
}

// Labels: map names in order of first appearance in train; the test file uses the same names.
function readBoth(): { trainY: Int32Array; testY: Int32Array } {
  const tr = readFileSync(join(dataDir, 'train_y.csv'), 'utf8').trim().split('\n').slice(1)
  const te = readFileSync(join(dataDir, 'test_y.csv'), 'utf8').trim().split('\n').slice(1)
  const names = new Map<string, number>()
  const map = (ls: string[]): Int32Array =>
    Int32Array.from(ls, (l) => {
      const n = l.slice(l.lastIndexOf(',') + 1)
      if (!names.has(n)) names.set(n, names.size)
      return names.get(n)!
    })
  return { trainY: map(tr), testY: map(te) }
}
void readLabels

/** 28x28 grayscale (0..1 floats) -> 8-bit pixels, gray or colourised (fg/bg colour per image). */
function toPixels(x: Float32Array, i: number, colour: boolean, r: () => number): { px: Buffer; channels: 1 | 3 } {
  const base = i * 784
  if (!colour) {
    const px = Buffer.alloc(784)
    for (let p = 0; p < 784; p++) px[p] = Math.round(x[base + p]! * 255)
    return { px, channels: 1 }
  }
  const fg = [r(), r(), r()]
  const bg = [r(), r(), r()]
  const px = Buffer.alloc(784 * 3)
  for (let p = 0; p < 784; p++) {
    const a = x[base + p]!
    for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.round((bg[c]! * (1 - a) + fg[c]! * a) * 255)
  }
  return { px, channels: 3 }
}

/** Features of rows [0, n) of x through a model, images resized by sharp per the spec. */
async function features(
  model: Uint8Array,
  spec: ReturnType<typeof builtinPreprocess>,
  x: Float32Array,
  n: number,
  colour: boolean,
  seed: number,
): Promise<{ data: Float32Array; d: number }> {
  const session = await ort.InferenceSession.create(model)
  const inName = session.inputNames[0]!
  const outName = session.outputNames[0]!
  const per = inputSize(spec)
  const B = 256
  const r = mulberry32(seed)
  let d = 0
  let out = new Float32Array(0)
  for (let s = 0; s < n; s += B) {
    const m = Math.min(B, n - s)
    const batch = new Float32Array(m * per)
    const pxs = []
    for (let i = 0; i < m; i++) pxs.push(toPixels(x, s + i, colour, r))
    const decoded = await Promise.all(pxs.map((p) => decodeImagePixels(p.px, spec, { raw: { width: 28, height: 28, channels: p.channels } })))
    decoded.forEach((px, i) => pixelsToTensor(px, spec, batch, i * per))
    const dims = spec.layout === 'nchw' ? [m, spec.channels, spec.height, spec.width] : [m, spec.height, spec.width, spec.channels]
    const res = await session.run({ [inName]: new ort.Tensor('float32', batch, dims) })
    const t = res[outName] as ort.Tensor
    if (!d) {
      d = t.dims[1]!
      out = new Float32Array(n * d)
    }
    out.set(t.data as Float32Array, s * d)
  }
  await session.release()
  return { data: out, d }
}

/** Standardise columns by the training statistics (constant columns become 0). */
function standardise(tr: Float32Array, te: Float32Array, d: number): void {
  const n = tr.length / d
  const mean = new Float64Array(d)
  const sq = new Float64Array(d)
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] = mean[j]! + tr[i * d + j]!
  for (let j = 0; j < d; j++) mean[j] = mean[j]! / n
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const v = tr[i * d + j]! - mean[j]!
      sq[j] = sq[j]! + v * v
    }
  const inv = Float64Array.from(sq, (s) => {
    const sd = Math.sqrt(s / n)
    return sd > 1e-8 ? 1 / sd : 0
  })
  for (const a of [tr, te]) for (let i = 0; i < a.length; i++) a[i] = (a[i]! - mean[i % d]!) * inv[i % d]!
}

/**
 * Loss/gradient graph of the mean softmax cross-entropy with bias (the L2 term is added in TS):
 * logits = XW + b; logp = logits - logsumexp; loss = -sum(Y * logp) / n; G = (softmax - Y) / n;
 * dW = X^T G; db = colsum(G).
 */
function lossGraph(d: number): Uint8Array {
  return buildModel({
    graph: {
      name: 'softmax-ce',
      nodes: [
        { op: 'MatMul', inputs: ['X', 'W'], outputs: ['xw'] },
        { op: 'Add', inputs: ['xw', 'b'], outputs: ['z'] },
        { op: 'ReduceMax', inputs: ['z'], outputs: ['zmax'], attrs: { axes: { ints: [1] }, keepdims: { i: 1 } } },
        { op: 'Sub', inputs: ['z', 'zmax'], outputs: ['zc'] },
        { op: 'Exp', inputs: ['zc'], outputs: ['ez'] },
        { op: 'ReduceSum', inputs: ['ez', 'ax1'], outputs: ['sez'], attrs: { keepdims: { i: 1 } } },
        { op: 'Log', inputs: ['sez'], outputs: ['lse'] },
        { op: 'Sub', inputs: ['zc', 'lse'], outputs: ['logp'] },
        { op: 'Mul', inputs: ['Y', 'logp'], outputs: ['ylp'] },
        { op: 'ReduceSum', inputs: ['ylp'], outputs: ['nll'], attrs: { keepdims: { i: 0 } } },
        { op: 'Mul', inputs: ['nll', 'negInvN'], outputs: ['loss'] },
        { op: 'Exp', inputs: ['logp'], outputs: ['p'] },
        { op: 'Sub', inputs: ['p', 'Y'], outputs: ['pmy'] },
        { op: 'Mul', inputs: ['pmy', 'invN'], outputs: ['G'] },
        { op: 'Gemm', inputs: ['X', 'G'], outputs: ['dW'], attrs: { transA: { i: 1 } } },
        { op: 'ReduceSum', inputs: ['G', 'ax0'], outputs: ['db'], attrs: { keepdims: { i: 1 } } },
      ],
      initializers: [int64Tensor('ax1', [1]), int64Tensor('ax0', [0])],
      inputs: [
        { name: 'X', type: DataType.FLOAT, shape: ['n', d] },
        { name: 'Y', type: DataType.FLOAT, shape: ['n', K] },
        { name: 'W', type: DataType.FLOAT, shape: [d, K] },
        { name: 'b', type: DataType.FLOAT, shape: [1, K] },
        { name: 'invN', type: DataType.FLOAT, shape: [] },
        { name: 'negInvN', type: DataType.FLOAT, shape: [] },
      ],
      outputs: [
        { name: 'loss', type: DataType.FLOAT, shape: [] },
        { name: 'dW', type: DataType.FLOAT, shape: [d, K] },
        { name: 'db', type: DataType.FLOAT, shape: [1, K] },
      ],
    },
  })
}
void floatTensor

/** L-BFGS (Nocedal & Wright, Algorithm 7.4, memory 10) with Armijo backtracking. */
async function lbfgs(
  f: (w: Float64Array) => Promise<{ loss: number; grad: Float64Array }>,
  w0: Float64Array,
  maxIter: number,
): Promise<Float64Array> {
  const m = 10
  let w = w0
  let { loss, grad } = await f(w)
  const S: Float64Array[] = []
  const Yv: Float64Array[] = []
  const dot = (a: Float64Array, b: Float64Array): number => {
    let s = 0
    for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!
    return s
  }
  for (let it = 0; it < maxIter; it++) {
    const q = Float64Array.from(grad)
    const alpha: number[] = []
    for (let j = S.length - 1; j >= 0; j--) {
      const rho = 1 / dot(Yv[j]!, S[j]!)
      const a = rho * dot(S[j]!, q)
      alpha[j] = a
      for (let i = 0; i < q.length; i++) q[i] = q[i]! - a * Yv[j]![i]!
    }
    const gamma = S.length ? dot(S[S.length - 1]!, Yv[Yv.length - 1]!) / dot(Yv[Yv.length - 1]!, Yv[Yv.length - 1]!) : 1 / Math.sqrt(dot(grad, grad))
    for (let i = 0; i < q.length; i++) q[i] = q[i]! * gamma
    for (let j = 0; j < S.length; j++) {
      const rho = 1 / dot(Yv[j]!, S[j]!)
      const b = rho * dot(Yv[j]!, q)
      for (let i = 0; i < q.length; i++) q[i] = q[i]! + S[j]![i]! * (alpha[j]! - b)
    }
    const dir = q.map((v) => -v)
    const slope = dot(grad, dir)
    if (slope >= 0) break
    let t = 1
    let next: { loss: number; grad: Float64Array } | undefined
    let wn = w
    for (let ls = 0; ls < 30; ls++) {
      wn = w.map((v, i) => v + t * dir[i]!)
      next = await f(wn)
      if (next.loss <= loss + 1e-4 * t * slope) break
      t *= 0.5
    }
    if (!next) break
    const s = wn.map((v, i) => v - w[i]!)
    const y = next.grad.map((v, i) => v - grad[i]!)
    if (dot(s, y) > 1e-12) {
      S.push(s)
      Yv.push(y)
      if (S.length > m) {
        S.shift()
        Yv.shift()
      }
    }
    const rel = Math.abs(loss - next.loss) / Math.max(1, Math.abs(loss))
    w = wn
    loss = next.loss
    grad = next.grad
    if (rel < 1e-10) break
  }
  return w
}

/** Fits the probe on (tr, trY) and returns test accuracy on (te, teY), in percent. */
async function probe(tr: Float32Array, trY: Int32Array, te: Float32Array, teY: Int32Array, d: number): Promise<number> {
  standardise(tr, te, d)
  const n = trY.length
  const Y = new Float32Array(n * K)
  for (let i = 0; i < n; i++) Y[i * K + trY[i]!] = 1
  const session = await ort.InferenceSession.create(lossGraph(d))
  const X = new ort.Tensor('float32', tr, [n, d])
  const Yt = new ort.Tensor('float32', Y, [n, K])
  const invN = new ort.Tensor('float32', Float32Array.of(1 / n), [])
  const negInvN = new ort.Tensor('float32', Float32Array.of(-1 / n), [])
  const nw = d * K
  const f = async (w: Float64Array): Promise<{ loss: number; grad: Float64Array }> => {
    const W = new ort.Tensor('float32', Float32Array.from(w.subarray(0, nw)), [d, K])
    const b = new ort.Tensor('float32', Float32Array.from(w.subarray(nw)), [1, K])
    const r = await session.run({ X, Y: Yt, W, b, invN, negInvN })
    const dW = r.dW!.data as Float32Array
    const db = r.db!.data as Float32Array
    const grad = new Float64Array(nw + K)
    let reg = 0
    for (let i = 0; i < nw; i++) {
      grad[i] = dW[i]! + LAMBDA * w[i]!
      reg += w[i]! * w[i]!
    }
    for (let k = 0; k < K; k++) grad[nw + k] = db[k]!
    return { loss: (r.loss!.data as Float32Array)[0]! + (LAMBDA / 2) * reg, grad }
  }
  const w = await lbfgs(f, new Float64Array(nw + K), 500)
  await session.release()
  let correct = 0
  const nt = teY.length
  for (let i = 0; i < nt; i++) {
    let best = -Infinity
    let arg = 0
    for (let k = 0; k < K; k++) {
      let z = w[nw + k]!
      for (let j = 0; j < d; j++) z += te[i * d + j]! * w[j * K + k]!
      if (z > best) {
        best = z
        arg = k
      }
    }
    if (arg === teY[i]) correct++
  }
  return (100 * correct) / nt
}

/** The BENCHMARKS.md baseline: 64 random zero-mean 5x5 filters, ReLU, average pooling to 4x4 (1024-d), on 28x28 input. */
function randomNet(channels: 1 | 3): Uint8Array {
  const r = mulberry32(1234)
  const taps = 25 * channels
  const w = new Float32Array(64 * taps)
  for (let f = 0; f < 64; f++) {
    let mean = 0
    for (let j = 0; j < taps; j++) {
      // Box-Muller normal
      const v = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r())
      w[f * taps + j] = v
      mean += v
    }
    mean /= taps
    for (let j = 0; j < taps; j++) w[f * taps + j] = w[f * taps + j]! - mean
  }
  return buildModel({
    graph: {
      name: 'random',
      nodes: [
        { op: 'Conv', inputs: ['image', 'w'], outputs: ['c'] },
        { op: 'Relu', inputs: ['c'], outputs: ['r'] },
        { op: 'AveragePool', inputs: ['r'], outputs: ['p'], attrs: { kernel_shape: { ints: [6, 6] }, strides: { ints: [6, 6] } } },
        { op: 'Flatten', inputs: ['p'], outputs: ['features'] },
      ],
      initializers: [{ name: 'w', dims: [64, channels, 5, 5], data: w }],
      inputs: [{ name: 'image', type: DataType.FLOAT, shape: ['N', channels, 28, 28] }],
      outputs: [{ name: 'features', type: DataType.FLOAT, shape: ['N', 1024] }],
    },
  })
}

/** Identity "model" for the raw-pixel row (28x28 gray, values / 255). */
function pixelModel(): Uint8Array {
  return buildModel({
    graph: {
      name: 'pixels',
      nodes: [{ op: 'Flatten', inputs: ['image'], outputs: ['features'] }],
      inputs: [{ name: 'image', type: DataType.FLOAT, shape: ['N', 1, 28, 28] }],
      outputs: [{ name: 'features', type: DataType.FLOAT, shape: ['N', 784] }],
    },
  })
}

async function main(): Promise<void> {
  const trainX = parseNpy(readFileSync(join(dataDir, 'train_x.npy')), 'train_x.npy').data
  const testX = parseNpy(readFileSync(join(dataDir, 'test_x.npy')), 'test_x.npy').data
  const { trainY, testY } = readBoth()
  const nTest = testY.length
  const trY = trainY.slice(0, nTrain)
  const spec28 = (channels: 1 | 3): ReturnType<typeof builtinPreprocess> => ({
    ...builtinPreprocess(),
    width: 28,
    height: 28,
    channels,
    mean: channels === 1 ? [0] : [0, 0, 0],
    std: channels === 1 ? [1] : [1, 1, 1],
  })
  const variants: { name: string; colour: boolean; model: () => Uint8Array; spec: ReturnType<typeof builtinPreprocess> }[] = [
    { name: 'pixels', colour: false, model: pixelModel, spec: spec28(1) },
    { name: 'random-1024', colour: false, model: () => randomNet(1), spec: spec28(1) },
    { name: 'random-1024', colour: true, model: () => randomNet(3), spec: spec28(3) },
  ]
  const configs: Record<string, Partial<BuiltinConfig>> = JSON.parse(opt('configs', '{}')) as Record<string, Partial<BuiltinConfig>>
  if (Object.keys(configs).length === 0) configs.builtin = {}
  for (const [name, over] of Object.entries(configs)) {
    const cfg = { ...BUILTIN_CONFIG, ...over }
    for (const colour of inputs) variants.push({ name, colour, model: () => buildBuiltinModel(cfg), spec: builtinPreprocess(cfg) })
  }
  console.log(`linear probe, lambda ${LAMBDA}, ${nTrain} train / ${nTest} test, data ${dataDir}`)
  console.log('features              input   dim   test acc %   extract s   fit s')
  for (const v of variants) {
    const label = `${v.name}`
    if (only.length && !only.includes(v.name)) continue
    const t0 = performance.now()
    const model = v.model()
    const tr = await features(model, v.spec, trainX, nTrain, v.colour, 1)
    const te = await features(model, v.spec, testX, nTest, v.colour, 2)
    const t1 = performance.now()
    const acc = await probe(tr.data, trY, te.data, testY, tr.d)
    const t2 = performance.now()
    console.log(
      `${label.padEnd(20)}  ${(v.colour ? 'colour' : 'gray').padEnd(6)} ${String(tr.d).padStart(5)}   ${acc.toFixed(2).padStart(10)}   ${((t1 - t0) / 1000).toFixed(1).padStart(9)}   ${((t2 - t1) / 1000).toFixed(1).padStart(5)}`,
    )
  }
  void builtinDim
}

await main()
