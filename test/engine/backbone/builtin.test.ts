import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import {
  BUILTIN_CONFIG,
  buildBuiltinModel,
  builtinDim,
  ensureBuiltinModel,
  filterBank,
  type BuiltinConfig,
} from '../../../electron/engine/backbone/builtin.ts'
import { inspectModel } from '../../../electron/engine/backbone/backbone.ts'

/**
 * The built-in's features computed directly in TypeScript (float64), following the definition in
 * builtin.ts rather than the graph: luma, optional contrast normalisation, per level a 2x2
 * average pyramid, zero-padded correlation with the bank, rectification, cell averages, then the
 * second-order moduli, colour-opponent and luma cells, signed square root.
 */
function reference(img: Float32Array, S: number, cfg: BuiltinConfig): number[] {
  const { taps, count } = filterBank(cfg)
  const k = cfg.kernel
  const r = (k - 1) / 2
  const plane = (c: number): Float64Array => Float64Array.from({ length: S * S }, (_, p) => img[c * S * S + p]!)
  const R = plane(0)
  const G = plane(1)
  const B = plane(2)
  let y: Float64Array = R.map((v, p) => 0.299 * v + 0.587 * G[p]! + 0.114 * B[p]!)
  if (cfg.normalize) {
    const m = y.reduce((a, b) => a + b, 0) / y.length
    const sd = Math.sqrt(y.reduce((a, b) => a + (b - m) ** 2, 0) / y.length)
    y = y.map((v) => (v - m) / (sd + 0.05))
  }
  const down = (a: Float64Array, side: number): Float64Array => {
    const h = side / 2
    return Float64Array.from({ length: h * h }, (_, p) => {
      const yy = Math.floor(p / h) * 2
      const xx = (p % h) * 2
      return (a[yy * side + xx]! + a[yy * side + xx + 1]! + a[(yy + 1) * side + xx]! + a[(yy + 1) * side + xx + 1]!) / 4
    })
  }
  const correlate = (a: Float64Array, side: number, f: number, filt: ArrayLike<number> = taps): Float64Array =>
    Float64Array.from({ length: side * side }, (_, p) => {
      const yy = Math.floor(p / side)
      const xx = p % side
      let s = 0
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          const v = yy + dy >= 0 && yy + dy < side && xx + dx >= 0 && xx + dx < side ? a[(yy + dy) * side + xx + dx]! : 0
          s += v * filt[f * k * k + (dy + r) * k + (dx + r)]!
        }
      }
      return s
    })
  const cells = (a: Float64Array, side: number, g: number): number[] => {
    const c = side / g
    const out: number[] = []
    for (let gy = 0; gy < g; gy++) {
      for (let gx = 0; gx < g; gx++) {
        let s = 0
        for (let yy = 0; yy < c; yy++) for (let xx = 0; xx < c; xx++) s += a[(gy * c + yy) * side + gx * c + xx]!
        out.push(s / (c * c))
      }
    }
    return out
  }
  const feats: number[] = []
  let lvl = y
  let side = S
  const level0: Float64Array[] = []
  for (let l = 0; l < cfg.levels; l++) {
    if (l > 0) {
      lvl = down(lvl, side)
      side /= 2
    }
    const g = cfg.grid[l] ?? cfg.grid[cfg.grid.length - 1]!
    const resp = Array.from({ length: count }, (_, f) => correlate(lvl, side, f))
    if (l === 0) level0.push(...resp)
    const rect = cfg.bothSigns
      ? [...resp.map((a) => a.map((v) => Math.max(v, 0))), ...resp.map((a) => a.map((v) => Math.max(-v, 0)))]
      : resp.map((a) => a.map(Math.abs))
    for (const a of rect) feats.push(...cells(a, side, g))
  }
  if (cfg.order2 > 0) {
    const O = cfg.orientations
    const mod = Array.from({ length: O }, (_, o) => level0[2 * o]!.map((v, p) => Math.sqrt(v * v + level0[2 * o + 1]![p]! ** 2 + 1e-6)))
    for (let o = 0; o < O; o++) {
      const md = down(mod[o]!, S)
      for (let o2 = 0; o2 < O; o2++) {
        const e = correlate(md, S / 2, 2 * o2)
        const od = correlate(md, S / 2, 2 * o2 + 1)
        feats.push(
          ...cells(
            e.map((v, p) => Math.sqrt(v * v + od[p]! ** 2 + 1e-6)),
            S / 2,
            cfg.order2,
          ),
        )
      }
    }
  }
  if (cfg.colourGrid > 0) {
    const o1 = R.map((v, p) => v - G[p]!)
    const o2 = R.map((v, p) => 0.5 * v + 0.5 * G[p]! - B[p]!)
    for (const a of [o1, o2, o1.map(Math.abs), o2.map(Math.abs)]) feats.push(...cells(a, S, cfg.colourGrid))
  }
  if (cfg.lumaGrid > 0) {
    const l0 = R.map((v, p) => 0.299 * v + 0.587 * G[p]! + 0.114 * B[p]!)
    feats.push(...cells(cfg.normalize ? y : l0, S, cfg.lumaGrid))
  }
  return cfg.sqrt ? feats.map((v) => Math.sign(v) * Math.sqrt(Math.abs(v))) : feats
}

function image(S: number, seed: number): Float32Array {
  let a = seed
  // Smooth-ish random image in [0, 1]: blocks plus noise, different per channel.
  return Float32Array.from({ length: 3 * S * S }, (_, i) => {
    a = (a * 1103515245 + 12345) % 2147483648
    const p = i % (S * S)
    const block = ((Math.floor(p / S / 4) + Math.floor((p % S) / 4) + Math.floor(i / (S * S))) % 3) / 3
    return Math.min(1, Math.max(0, block + (a / 2147483648 - 0.5) * 0.3))
  })
}

async function compare(cfg: BuiltinConfig): Promise<void> {
  const S = cfg.size
  const session = await ort.InferenceSession.create(buildBuiltinModel(cfg))
  const x = new Float32Array(2 * 3 * S * S)
  x.set(image(S, 1))
  x.set(image(S, 2), 3 * S * S)
  const out = (await session.run({ image: new ort.Tensor('float32', x, [2, 3, S, S]) })).features as ort.Tensor
  const d = builtinDim(cfg)
  assert.deepEqual(out.dims, [2, d])
  for (let n = 0; n < 2; n++) {
    const want = reference(x.subarray(n * 3 * S * S, (n + 1) * 3 * S * S), S, cfg)
    assert.equal(want.length, d)
    const got = (out.data as Float32Array).subarray(n * d, (n + 1) * d)
    for (let i = 0; i < d; i++)
      assert.ok(Math.abs(got[i]! - want[i]!) < 2e-3 * Math.max(1, Math.abs(want[i]!)), `image ${n} feature ${i}: ${got[i]} vs ${want[i]}`)
  }
  await session.release()
}

test('the built-in graph computes what its definition says (small config with every part switched on)', async () => {
  await compare({
    ...BUILTIN_CONFIG,
    size: 16,
    levels: 2,
    orientations: 4,
    kernel: 5,
    wavelength: 3,
    grid: [4, 2],
    colourGrid: 2,
    lumaGrid: 2,
    order2: 2,
    normalize: true,
  })
  await compare({
    ...BUILTIN_CONFIG,
    size: 16,
    levels: 2,
    orientations: 2,
    kernel: 5,
    wavelength: 3,
    grid: [2, 1],
    bothSigns: false,
    sqrt: false,
    colourGrid: 0,
    lumaGrid: 0,
    order2: 0,
    normalize: false,
  })
})

test('the shipped built-in: deterministic bytes, zero-mean unit-norm filters, an image model the loader accepts', async () => {
  assert.deepEqual(buildBuiltinModel(), buildBuiltinModel())
  const { taps, count } = filterBank(BUILTIN_CONFIG)
  const kk = BUILTIN_CONFIG.kernel ** 2
  for (let f = 0; f < count; f++) {
    let s = 0
    let q = 0
    for (let j = 0; j < kk; j++) {
      s += taps[f * kk + j]!
      q += taps[f * kk + j]! ** 2
    }
    assert.ok(Math.abs(s) < 1e-5 && Math.abs(q - 1) < 1e-5)
  }
  const dir = mkdtempSync(join(tmpdir(), 'qc-builtin-'))
  try {
    const file = ensureBuiltinModel(BUILTIN_CONFIG, dir)
    assert.deepEqual(new Uint8Array(readFileSync(file)), buildBuiltinModel())
    const info = await inspectModel(file)
    assert.equal(info.layout, 'nchw')
    assert.equal(info.channels, 3)
    assert.equal(info.width, BUILTIN_CONFIG.size)
    assert.equal(info.dim, builtinDim())
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a project registered with the built-in still loads it from another install (resources elsewhere)', async () => {
  const { openDb } = await import('../../../electron/engine/store/db.ts')
  const { ensureBackbone, loadBackbone } = await import('../../../electron/engine/backbone/backbone.ts')
  const a = mkdtempSync(join(tmpdir(), 'qc-res-a-'))
  const b = mkdtempSync(join(tmpdir(), 'qc-res-b-'))
  const saved = process.env.QC_RESOURCES
  try {
    process.env.QC_RESOURCES = a
    const db = openDb(join(a, 'p.qcdb'))
    const row = await ensureBackbone(db, 'builtin')
    assert.equal(row.kind, 'builtin')
    assert.equal(row.dim, builtinDim())
    assert.ok(row.modelPath?.startsWith(a))
    assert.equal((await ensureBackbone(db, 'builtin')).id, row.id)
    // Another install: its resources folder is elsewhere and has no model file yet.
    process.env.QC_RESOURCES = b
    const bb = await loadBackbone(db, 'builtin')
    assert.equal(bb.dim, builtinDim())
    const out = await bb.embed(new Float32Array(bb.inputSize).fill(0.5), 1)
    assert.equal(out.length, builtinDim())
    await bb.release()
    db.close()
  } finally {
    if (saved === undefined) delete process.env.QC_RESOURCES
    else process.env.QC_RESOURCES = saved
    rmSync(a, { recursive: true, force: true })
    rmSync(b, { recursive: true, force: true })
  }
})
