/**
 * The built-in default backbone: a training-free feature extractor built as an ONNX graph by
 * project code, so the product works offline with no downloaded weights. It is a baseline, not a
 * pretrained network: a fixed multi-scale filter bank (oriented Gabor filters in even and odd
 * phase plus centre-surround difference-of-Gaussians, on a 3-level image pyramid), both signs
 * rectified, averaged over a coarse spatial grid, plus coarse colour-opponent statistics, then a
 * signed square root. This is the classic "filter bank + rectification + pooling" descriptor
 * (Jarrett et al., "What is the best multi-stage architecture for object recognition?", ICCV 2009;
 * Gabor parameters after Jain & Farrokhnia 1991); the configuration was chosen by the linear-probe
 * measurement in bench/backbone-probe.ts (see docs and the bench's output).
 *
 * The model file is deterministic (same bytes for the same config), generated on first use into
 * resources/backbones/.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildModel, DataType, floatTensor, int64Tensor, type NodeInit, type TensorInit } from '../onnx/proto.ts'
import type { PreprocessSpec } from './preprocess.ts'

export interface BuiltinConfig {
  /** Input side in pixels (square). */
  size: number
  /** Pyramid levels; level l sees the image averaged down by 2^l. */
  levels: number
  /** Gabor orientations (each in even and odd phase). */
  orientations: number
  /** Gabor wavelength in pixels at each level (one per level, or one for all). */
  wavelength: number
  /** Filter kernel side (odd). */
  kernel: number
  /** Centre-surround (DoG) filters per level, sigma 1 and 2 ... */
  dog: number
  /** Pooling grid side at each level (the feature map is averaged into grid x grid cells). */
  grid: number[]
  /** Keep both signs of every response (ReLU(x), ReLU(-x)) instead of |x|. */
  bothSigns: boolean
  /** Signed square root of the pooled features (a Hellinger-style map that evens out scales). */
  sqrt: boolean
  /** Colour-opponent statistics (R-G, (R+G)/2-B: mean and mean absolute value) on this grid; 0 = none. */
  colourGrid: number
  /** Luma mean on this grid (coarse intensity layout); 0 = none. */
  lumaGrid: number
  /**
   * Per-image contrast normalisation of the luma before the filters: (y - mean) / (std + 0.05),
   * so features do not depend on exposure and contrast (lighting varies on a line; colour images
   * with similar foreground and background luma keep their structure).
   */
  normalize: boolean
  /**
   * Second-order (scattering) features on this grid; 0 = none. The level-0 Gabor pairs give
   * modulus maps |g_even + i g_odd| per orientation (Mallat, "Group invariant scattering", 2012;
   * Bruna & Mallat 2013); those, averaged down 2x, are filtered again by the same Gabor pairs (so at
   * twice the wavelength) and their moduli are pooled: orientation-pair co-occurrences (texture,
   * corners, crossing strokes) that one layer of rectified filters cannot express linearly.
   */
  order2: number
}

/** The shipped configuration (see bench/backbone-probe.ts for the measurement behind it). */
export const BUILTIN_CONFIG: BuiltinConfig = {
  // 64 x 64: every image is stretched to it. Large enough for the 3-level pyramid (64, 32, 16 px)
  // with an 8 x 8 grid at the finest level; small enough that the graph costs ~12 MFLOP per image,
  // so extraction on a CPU is bound by decoding, not by the model. Fine defects that vanish at
  // 64 px need a pretrained catalogue model or the user's own at full resolution.
  size: 64,
  levels: 3,
  orientations: 8,
  wavelength: 4,
  kernel: 11,
  dog: 2,
  // Finer cells where the filters are finest: [8, 4, 2] measured 90.2-90.3% vs 89.8% for
  // [4, 4, 4]; [8, 8, 4] gained ~0.2-0.4 more at 1.7x the dimension (bench/backbone-probe.ts).
  grid: [8, 4, 2],
  bothSigns: true,
  // Without the signed square root the same features lose ~0.9 points.
  sqrt: true,
  colourGrid: 4,
  lumaGrid: 4,
  // Neutral on grayscale Fashion-MNIST (90.30 vs 90.24 at [8, 4, 2]); meant for lighting and
  // colour variation (the colourised variant: 88.4% at [8, 8, 4] with it, 85.4% at [4, 4, 4]
  // without; not a clean ablation, see bench/backbone-probe.ts).
  normalize: true,
  // Second-order moduli added ~0.2-0.4 points for +1024 dimensions and twice the compute: off.
  order2: 0,
}

export const BUILTIN_NAME = 'builtin'

/** Preprocessing of the built-in: stretch to size x size, RGB 0..1, NCHW (gray is replicated). */
export function builtinPreprocess(cfg: BuiltinConfig = BUILTIN_CONFIG): PreprocessSpec {
  return {
    width: cfg.size,
    height: cfg.size,
    resize: 'stretch',
    channels: 3,
    channelOrder: 'rgb',
    scale: 1 / 255,
    mean: [0, 0, 0],
    std: [1, 1, 1],
    layout: 'nchw',
  }
}

/**
 * Filter bank for one level: `orientations` Gabor pairs (even: cosine, made zero-mean; odd: sine)
 * with sigma = 0.56 * wavelength (one-octave bandwidth) and aspect 0.5, then `dog` centre-surround
 * filters G(s) - G(1.6 s) with s = 1, 2, ...; every filter zero-mean and unit L2 norm, so responses
 * do not depend on the image's brightness and are comparable across filters. Returns k*k taps per
 * filter, filters back to back.
 */
export function filterBank(cfg: Pick<BuiltinConfig, 'orientations' | 'wavelength' | 'kernel' | 'dog'>): { taps: Float32Array; count: number } {
  const k = cfg.kernel
  const r = (k - 1) / 2
  const filters: Float64Array[] = []
  const lambda = cfg.wavelength
  const sigma = 0.56 * lambda
  const gamma = 0.5
  for (let o = 0; o < cfg.orientations; o++) {
    const th = (Math.PI * o) / cfg.orientations
    for (const psi of [0, Math.PI / 2]) {
      const f = new Float64Array(k * k)
      for (let y = -r; y <= r; y++) {
        for (let x = -r; x <= r; x++) {
          const xr = x * Math.cos(th) + y * Math.sin(th)
          const yr = -x * Math.sin(th) + y * Math.cos(th)
          f[(y + r) * k + (x + r)] =
            Math.exp(-(xr * xr + gamma * gamma * yr * yr) / (2 * sigma * sigma)) * Math.cos((2 * Math.PI * xr) / lambda + psi)
        }
      }
      filters.push(f)
    }
  }
  for (let d = 0; d < cfg.dog; d++) {
    const s = 1 + d
    const f = new Float64Array(k * k)
    for (let y = -r; y <= r; y++) {
      for (let x = -r; x <= r; x++) {
        const q = x * x + y * y
        const g1 = Math.exp(-q / (2 * s * s)) / (2 * Math.PI * s * s)
        const s2 = 1.6 * s
        const g2 = Math.exp(-q / (2 * s2 * s2)) / (2 * Math.PI * s2 * s2)
        f[(y + r) * k + (x + r)] = g1 - g2
      }
    }
    filters.push(f)
  }
  const taps = new Float32Array(filters.length * k * k)
  filters.forEach((f, i) => {
    let mean = 0
    for (const v of f) mean += v
    mean /= f.length
    let norm = 0
    for (let j = 0; j < f.length; j++) {
      f[j] = f[j]! - mean
      norm += f[j]! * f[j]!
    }
    norm = Math.sqrt(norm)
    for (let j = 0; j < f.length; j++) taps[i * k * k + j] = f[j]! / norm
  })
  return { taps, count: filters.length }
}

/** Output dimension of a configuration. */
export function builtinDim(cfg: BuiltinConfig = BUILTIN_CONFIG): number {
  const perLevel = (2 * cfg.orientations + cfg.dog) * (cfg.bothSigns ? 2 : 1)
  let d = 0
  for (let l = 0; l < cfg.levels; l++) {
    const g = cfg.grid[l] ?? cfg.grid[cfg.grid.length - 1]!
    d += perLevel * g * g
  }
  d += cfg.orientations * cfg.orientations * cfg.order2 * cfg.order2
  d += 4 * cfg.colourGrid * cfg.colourGrid
  d += cfg.lumaGrid * cfg.lumaGrid
  return d
}

/** Builds the ONNX model bytes for a configuration: input 'image' [N,3,S,S], output 'features' [N,D]. */
export function buildBuiltinModel(cfg: BuiltinConfig = BUILTIN_CONFIG): Uint8Array {
  const S = cfg.size
  const nodes: NodeInit[] = []
  const inits: TensorInit[] = []
  // Luma (ITU-R BT.601) and two colour-opponent channels.
  inits.push(floatTensor('w_luma', [0.299, 0.587, 0.114], [1, 3, 1, 1]))
  inits.push(floatTensor('w_opp', [1, -1, 0, 0.5, 0.5, -1], [2, 3, 1, 1]))
  nodes.push({ op: 'Conv', inputs: ['image', 'w_luma'], outputs: [cfg.normalize ? 'luma' : 'y0'] })
  if (cfg.normalize) {
    const all = { axes: { ints: [1, 2, 3] }, keepdims: { i: 1 } }
    inits.push(floatTensor('eps', [0.05], []))
    nodes.push({ op: 'ReduceMean', inputs: ['luma'], outputs: ['luma_mean'], attrs: all })
    nodes.push({ op: 'Sub', inputs: ['luma', 'luma_mean'], outputs: ['luma_c'] })
    nodes.push({ op: 'Mul', inputs: ['luma_c', 'luma_c'], outputs: ['luma_sq'] })
    nodes.push({ op: 'ReduceMean', inputs: ['luma_sq'], outputs: ['luma_var'], attrs: all })
    nodes.push({ op: 'Sqrt', inputs: ['luma_var'], outputs: ['luma_sd'] })
    nodes.push({ op: 'Add', inputs: ['luma_sd', 'eps'], outputs: ['luma_den'] })
    nodes.push({ op: 'Div', inputs: ['luma_c', 'luma_den'], outputs: ['y0'] })
  }
  const bank = filterBank(cfg)
  inits.push({ name: 'bank', dims: [bank.count, 1, cfg.kernel, cfg.kernel], data: bank.taps })
  const pad = (cfg.kernel - 1) / 2
  const pooled: string[] = []
  let side = S
  for (let l = 0; l < cfg.levels; l++) {
    const y = `y${l}`
    if (l > 0) {
      nodes.push({ op: 'AveragePool', inputs: [`y${l - 1}`], outputs: [y], attrs: { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } } })
      side = Math.floor(side / 2)
    }
    const g = cfg.grid[l] ?? cfg.grid[cfg.grid.length - 1]!
    if (side % g !== 0) throw new Error(`builtin config: level ${l} is ${side} px, not divisible into a ${g}x${g} grid`)
    // Reflect-free zero padding: the images are flattened on white and the filters are zero-mean,
    // so a border response is an honest "edge of the picture" signal.
    nodes.push({ op: 'Conv', inputs: [y, 'bank'], outputs: [`f${l}`], attrs: { pads: { ints: [pad, pad, pad, pad] } } })
    let rect: string
    if (cfg.bothSigns) {
      nodes.push({ op: 'Relu', inputs: [`f${l}`], outputs: [`fp${l}`] })
      nodes.push({ op: 'Neg', inputs: [`f${l}`], outputs: [`fn${l}`] })
      nodes.push({ op: 'Relu', inputs: [`fn${l}`], outputs: [`fnr${l}`] })
      nodes.push({ op: 'Concat', inputs: [`fp${l}`, `fnr${l}`], outputs: [`r${l}`], attrs: { axis: { i: 1 } } })
      rect = `r${l}`
    } else {
      nodes.push({ op: 'Abs', inputs: [`f${l}`], outputs: [`r${l}`] })
      rect = `r${l}`
    }
    const cell = side / g
    nodes.push({
      op: 'AveragePool',
      inputs: [rect],
      outputs: [`p${l}`],
      attrs: { kernel_shape: { ints: [cell, cell] }, strides: { ints: [cell, cell] } },
    })
    nodes.push({ op: 'Flatten', inputs: [`p${l}`], outputs: [`v${l}`], attrs: { axis: { i: 1 } } })
    pooled.push(`v${l}`)
  }
  if (cfg.order2 > 0) {
    const O = cfg.orientations
    const nb = bank.count
    // Modulus per orientation: 1x1 conv summing the squares of each (even, odd) pair.
    const pairSum = (groups: number, perGroup: number): Float32Array => {
      const w = new Float32Array(groups * O * groups * perGroup)
      for (let g = 0; g < groups; g++) {
        for (let o = 0; o < O; o++) {
          const row = (g * O + o) * groups * perGroup
          w[row + g * perGroup + 2 * o] = 1
          w[row + g * perGroup + 2 * o + 1] = 1
        }
      }
      return w
    }
    inits.push(floatTensor('pair1', pairSum(1, nb), [O, nb, 1, 1]))
    inits.push(floatTensor('eps2', [1e-6], []))
    nodes.push({ op: 'Mul', inputs: ['f0', 'f0'], outputs: ['f0sq'] })
    nodes.push({ op: 'Conv', inputs: ['f0sq', 'pair1'], outputs: ['m1sq'] })
    nodes.push({ op: 'Add', inputs: ['m1sq', 'eps2'], outputs: ['m1sqe'] })
    nodes.push({ op: 'Sqrt', inputs: ['m1sqe'], outputs: ['m1'] })
    nodes.push({ op: 'AveragePool', inputs: ['m1'], outputs: ['m1d'], attrs: { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } } })
    // The same Gabor pairs (without the DoGs) applied to each of the O maps separately (grouped conv).
    const kk = cfg.kernel * cfg.kernel
    const gab = bank.taps.subarray(0, 2 * O * kk)
    const bank2 = new Float32Array(O * 2 * O * kk)
    for (let g = 0; g < O; g++) bank2.set(gab, g * 2 * O * kk)
    inits.push({ name: 'bank2', dims: [O * 2 * O, 1, cfg.kernel, cfg.kernel], data: bank2 })
    inits.push(floatTensor('pair2', pairSum(O, 2 * O), [O * O, O * 2 * O, 1, 1]))
    nodes.push({ op: 'Conv', inputs: ['m1d', 'bank2'], outputs: ['g2'], attrs: { pads: { ints: [pad, pad, pad, pad] }, group: { i: O } } })
    nodes.push({ op: 'Mul', inputs: ['g2', 'g2'], outputs: ['g2sq'] })
    nodes.push({ op: 'Conv', inputs: ['g2sq', 'pair2'], outputs: ['m2sq'] })
    nodes.push({ op: 'Add', inputs: ['m2sq', 'eps2'], outputs: ['m2sqe'] })
    nodes.push({ op: 'Sqrt', inputs: ['m2sqe'], outputs: ['m2'] })
    const cell2 = S / 2 / cfg.order2
    nodes.push({
      op: 'AveragePool',
      inputs: ['m2'],
      outputs: ['m2p'],
      attrs: { kernel_shape: { ints: [cell2, cell2] }, strides: { ints: [cell2, cell2] } },
    })
    nodes.push({ op: 'Flatten', inputs: ['m2p'], outputs: ['v_m2'], attrs: { axis: { i: 1 } } })
    pooled.push('v_m2')
  }
  if (cfg.colourGrid > 0) {
    const cell = S / cfg.colourGrid
    nodes.push({ op: 'Conv', inputs: ['image', 'w_opp'], outputs: ['opp'] })
    nodes.push({ op: 'Abs', inputs: ['opp'], outputs: ['opp_abs'] })
    nodes.push({ op: 'Concat', inputs: ['opp', 'opp_abs'], outputs: ['opp4'], attrs: { axis: { i: 1 } } })
    nodes.push({
      op: 'AveragePool',
      inputs: ['opp4'],
      outputs: ['opp_p'],
      attrs: { kernel_shape: { ints: [cell, cell] }, strides: { ints: [cell, cell] } },
    })
    nodes.push({ op: 'Flatten', inputs: ['opp_p'], outputs: ['v_opp'], attrs: { axis: { i: 1 } } })
    pooled.push('v_opp')
  }
  if (cfg.lumaGrid > 0) {
    const cell = S / cfg.lumaGrid
    nodes.push({
      op: 'AveragePool',
      inputs: ['y0'],
      outputs: ['luma_p'],
      attrs: { kernel_shape: { ints: [cell, cell] }, strides: { ints: [cell, cell] } },
    })
    nodes.push({ op: 'Flatten', inputs: ['luma_p'], outputs: ['v_luma'], attrs: { axis: { i: 1 } } })
    pooled.push('v_luma')
  }
  nodes.push({ op: 'Concat', inputs: pooled, outputs: [cfg.sqrt ? 'cat' : 'features'], attrs: { axis: { i: 1 } } })
  if (cfg.sqrt) {
    // Signed square root: sign(x) * sqrt(|x|).
    nodes.push({ op: 'Abs', inputs: ['cat'], outputs: ['cat_abs'] })
    nodes.push({ op: 'Sqrt', inputs: ['cat_abs'], outputs: ['cat_sqrt'] })
    nodes.push({ op: 'Sign', inputs: ['cat'], outputs: ['cat_sign'] })
    nodes.push({ op: 'Mul', inputs: ['cat_sign', 'cat_sqrt'], outputs: ['features'] })
  }
  void int64Tensor
  return buildModel({
    graph: {
      name: 'seed-qc-builtin',
      nodes,
      initializers: inits,
      inputs: [{ name: 'image', type: DataType.FLOAT, shape: ['N', 3, S, S] }],
      outputs: [{ name: 'features', type: DataType.FLOAT, shape: ['N', builtinDim(cfg)] }],
    },
    opset: 13,
    producer: 'seed-qc builtin',
    metadata: { config: JSON.stringify(cfg), preprocess: JSON.stringify(builtinPreprocess(cfg)) },
  })
}

/** Folder of shipped backbones: $QC_RESOURCES/backbones, else the repository's resources/backbones. */
export function backbonesDir(): string {
  if (process.env.QC_RESOURCES) return resolve(process.env.QC_RESOURCES, 'backbones')
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../resources/backbones')
}

/**
 * File name of the built-in model: size, dimension and the first 8 hex digits of the model's
 * sha256, so a changed configuration is a new file and never overwrites the one that a project's
 * stored features were computed with.
 */
export function builtinModelFile(cfg: BuiltinConfig = BUILTIN_CONFIG, dir = backbonesDir()): string {
  const digest = createHash('sha256').update(buildBuiltinModel(cfg)).digest('hex').slice(0, 8)
  return join(dir, `builtin-fb${cfg.size}-${builtinDim(cfg)}-${digest}.onnx`)
}

/**
 * Returns the path of the built-in model, writing it (atomically) when it is missing or differs
 * from what this code builds (the bytes are deterministic).
 */
export function ensureBuiltinModel(cfg: BuiltinConfig = BUILTIN_CONFIG, dir = backbonesDir()): string {
  const file = builtinModelFile(cfg, dir)
  const bytes = buildBuiltinModel(cfg)
  if (existsSync(file)) {
    const cur = readFileSync(file)
    if (cur.length === bytes.length && Buffer.compare(cur, Buffer.from(bytes)) === 0) return file
  }
  mkdirSync(dir, { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, bytes)
  renameSync(tmp, file)
  return file
}
