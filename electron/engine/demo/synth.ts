/**
 * Synthetic surface-inspection images for trying the tool: NOT real factory data. Grayscale
 * brushed-metal or woven-fabric backgrounds with per-image variation (brightness, texture angle and
 * scale, uneven lighting, sensor grain), and five classes:
 *   ok      background only
 *   scratch thin straight lines, bright or dark
 *   crack   jagged, branching dark line            (confusable with scratch)
 *   dent    round bump shaded from one side, often a specular highlight
 *   stain   irregular dark blotch, mottled          (confusable with dent)
 * Defect strength varies, so some are subtle. Labels come from a "hasty inspector" who mixes up
 * the confusable pairs most, sometimes misses a defect (labels it ok), and now and then calls a
 * clean part defective. The true classes go to a separate truth CSV, never into the labels CSV.
 * Everything is a pure function of the seed: the same seed gives byte-identical files.
 */
import sharp from 'sharp'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { writeFileSync } from 'node:fs'
import { formatCsv, readCsvTable } from '../util/csv.ts'
import { CancelledError, type Progress } from '../jobs/progress.ts'
import { mulberry32 } from '../util/rng.ts'

export const DEMO_CLASSES = ['ok', 'scratch', 'dent', 'stain', 'crack'] as const
export type DemoClass = (typeof DEMO_CLASSES)[number]

/** The pairs an inspector in a hurry mixes up. */
export const CONFUSABLE: Record<DemoClass, DemoClass | null> = { ok: null, scratch: 'crack', crack: 'scratch', dent: 'stain', stain: 'dent' }

export interface DemoOptions {
  /** Images per class (default 100, i.e. 500 images: enough for the built-in backbone to separate the classes). */
  perClass?: number
  seed?: number
  /** Overall fraction of wrong labels (default 0.25). */
  noiseRate?: number
  /** Image side in pixels (default 96). */
  size?: number
  progress?: Progress
  signal?: AbortSignal
}

export interface DemoResult {
  /**
   * The folder the CSV paths are relative to: the output folder itself, which holds the CSVs and
   * images/ (flat; file names say nothing about the class). Paths look like images/img_00001.png,
   * so the labels CSV also imports on its own (relative to its own folder).
   */
  imagesRoot: string
  /** `path,label` with the inspector's (noisy) labels; paths relative to imagesRoot. */
  labelsCsv: string
  /** `path,label` with the true classes. */
  truthCsv: string
  /** Same as labelsCsv (a manifest for importCsv). */
  manifest: string
  readme: string
  classes: string[]
  n: number
  /** Samples whose label differs from the truth. */
  noisyCount: number
}

/** Independent stream per (seed, index), so each image is the same whatever the order. */
function streamFor(seed: number, i: number, salt: number): () => number {
  let h = (seed ^ 0x9e3779b9) >>> 0
  h = Math.imul(h ^ (i + 0x85ebca6b), 0xc2b2ae35) >>> 0
  h = Math.imul(h ^ (salt + 0x27d4eb2f), 0x165667b1) >>> 0
  return mulberry32(h ^ (h >>> 16))
}

function gauss(r: () => number): number {
  const u = Math.max(r(), 1e-12)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r())
}

/** Smooth value noise: random values on a coarse grid, smoothstep-interpolated. */
function valueNoise(size: number, cells: number, r: () => number): Float32Array {
  const g = new Float32Array((cells + 1) * (cells + 1)).map(() => r() * 2 - 1)
  const out = new Float32Array(size * size)
  for (let y = 0; y < size; y++) {
    const fy = (y / size) * cells
    const y0 = Math.floor(fy)
    let ty = fy - y0
    ty = ty * ty * (3 - 2 * ty)
    for (let x = 0; x < size; x++) {
      const fx = (x / size) * cells
      const x0 = Math.floor(fx)
      let tx = fx - x0
      tx = tx * tx * (3 - 2 * tx)
      const a = g[y0 * (cells + 1) + x0]!
      const b = g[y0 * (cells + 1) + x0 + 1]!
      const c = g[(y0 + 1) * (cells + 1) + x0]!
      const d = g[(y0 + 1) * (cells + 1) + x0 + 1]!
      out[y * size + x] = (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty
    }
  }
  return out
}

function background(size: number, r: () => number): Float32Array {
  const img = new Float32Array(size * size)
  const base = 95 + 60 * r()
  const light = valueNoise(size, 3, r)
  const lightAmp = 8 + 12 * r()
  const gx = (r() - 0.5) * 0.4
  const gy = (r() - 0.5) * 0.4
  const grain = 1.5 + 2.5 * r()
  const fabric = r() < 0.4
  const theta = (r() < 0.5 ? 0 : Math.PI / 2) + (r() - 0.5) * 0.35
  const c = Math.cos(theta)
  const s = Math.sin(theta)
  // Brushed metal: 1-D noise across the brushing direction, smoothed a little.
  const streakN = size * 2
  const streak = new Float32Array(streakN).map(() => gauss(r))
  for (let k = 1; k < streakN; k++) streak[k] = 0.6 * streak[k]! + 0.4 * streak[k - 1]!
  const streakAmp = 2 + 4 * r()
  const period = 4 + 3 * r()
  const fabricAmp = 2 + 4 * r()
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x * c + y * s
      const v = -x * s + y * c
      let t: number
      if (fabric) t = fabricAmp * Math.sin((2 * Math.PI * u) / period) * Math.sin((2 * Math.PI * v) / period)
      else t = streakAmp * streak[Math.min(streakN - 1, Math.max(0, Math.floor(v + size / 2)))]!
      img[y * size + x] = base + lightAmp * light[y * size + x]! + gx * (x - size / 2) + gy * (y - size / 2) + t + grain * gauss(r)
    }
  }
  return img
}

/** Distance from point p to segment ab. */
function segDist(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax
  const dy = by - ay
  const L = dx * dx + dy * dy
  const t = L > 0 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / L)) : 0
  const qx = ax + t * dx - px
  const qy = ay + t * dy - py
  return Math.sqrt(qx * qx + qy * qy)
}

/** Adds `amp` along a polyline with a soft profile of half-width w. */
function drawPolyline(img: Float32Array, size: number, pts: [number, number][], w: number, amp: number): void {
  for (let k = 0; k + 1 < pts.length; k++) {
    const [ax, ay] = pts[k]!
    const [bx, by] = pts[k + 1]!
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - w - 1))
    const x1 = Math.min(size - 1, Math.ceil(Math.max(ax, bx) + w + 1))
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - w - 1))
    const y1 = Math.min(size - 1, Math.ceil(Math.max(ay, by) + w + 1))
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const d = segDist(x, y, ax, ay, bx, by)
        const f = Math.max(0, 1 - d / (w + 0.5))
        // max() instead of a sum so joints between segments are not doubled.
        const i = y * size + x
        const cur = Math.abs(DRAWN[i] ?? 0)
        if (f > cur) {
          img[i] = img[i]! + amp * (f - cur)
          DRAWN[i] = f
        }
      }
    }
  }
}
let DRAWN: Float32Array = new Float32Array(0)

function scratch(img: Float32Array, size: number, r: () => number): void {
  const lines = r() < 0.3 ? 2 : 1
  for (let l = 0; l < lines; l++) {
    DRAWN = new Float32Array(size * size)
    const th = r() * Math.PI
    const len = size * (0.6 + 0.4 * r())
    const cx = size * (0.35 + 0.3 * r())
    const cy = size * (0.35 + 0.3 * r())
    const dx = (Math.cos(th) * len) / 2
    const dy = (Math.sin(th) * len) / 2
    // Mostly bright (a fresh scratch catches the light); the dark ones are what gets confused with cracks.
    const amp = (r() < 0.85 ? 1 : -1) * (60 + 40 * r())
    drawPolyline(
      img,
      size,
      [
        [cx - dx, cy - dy],
        [cx + dx, cy + dy],
      ],
      0.9 + 1.0 * r(),
      amp,
    )
  }
}

function crackPath(x: number, y: number, th: number, len: number, jag: number, r: () => number): [number, number][] {
  const pts: [number, number][] = [[x, y]]
  let travelled = 0
  while (travelled < len) {
    const step = 3 + 3 * r()
    th += jag * gauss(r)
    x += Math.cos(th) * step
    y += Math.sin(th) * step
    pts.push([x, y])
    travelled += step
  }
  return pts
}

function crack(img: Float32Array, size: number, r: () => number): void {
  DRAWN = new Float32Array(size * size)
  const jag = 0.4 + 0.35 * r()
  const th = r() * 2 * Math.PI
  const len = size * (0.5 + 0.4 * r())
  const x = size / 2 - (Math.cos(th) * len) / 2 + (r() - 0.5) * size * 0.2
  const y = size / 2 - (Math.sin(th) * len) / 2 + (r() - 0.5) * size * 0.2
  const main = crackPath(x, y, th, len, jag, r)
  const w = 1.4 + 1.0 * r()
  const amp = -(55 + 40 * r())
  drawPolyline(img, size, main, w, amp)
  const branches = 1 + (r() < 0.6 ? 1 : 0)
  for (let b = 0; b < branches; b++) {
    const from = main[1 + Math.floor(r() * (main.length - 2))] ?? main[0]!
    const bth = th + (r() < 0.5 ? 1 : -1) * (0.5 + 0.7 * r())
    drawPolyline(img, size, crackPath(from[0], from[1], bth, len * (0.25 + 0.3 * r()), jag, r), w * 0.7, amp * 0.8)
  }
}

function dent(img: Float32Array, size: number, r: () => number): void {
  const rad = 11 + 11 * r()
  const cx = size * (0.35 + 0.3 * r())
  const cy = size * (0.35 + 0.3 * r())
  const phi = r() * 2 * Math.PI
  const shade = 35 + 30 * r()
  const dark = 8 + 14 * r()
  const highlight = r() < 0.85 ? 50 + 40 * r() : 0
  const hx = cx + Math.cos(phi) * rad * 0.45
  const hy = cy + Math.sin(phi) * rad * 0.45
  const hs = 1.5 + 1.5 * r()
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = x - cx
      const dy = y - cy
      const d2 = (dx * dx + dy * dy) / (rad * rad)
      let v = 0
      if (d2 < 1) {
        const bump = 1 - d2
        // A bowl lit from phi: the side facing the light is bright, the far side dark.
        v += shade * ((dx * Math.cos(phi) + dy * Math.sin(phi)) / rad) * bump - dark * bump
      }
      if (highlight) {
        const e = ((x - hx) ** 2 + (y - hy) ** 2) / (2 * hs * hs)
        if (e < 12) v += highlight * Math.exp(-e)
      }
      img[y * size + x] = img[y * size + x]! + v
    }
  }
}

function stain(img: Float32Array, size: number, r: () => number): void {
  const rad = 12 + 12 * r()
  const cx = size * (0.35 + 0.3 * r())
  const cy = size * (0.35 + 0.3 * r())
  const blobs = 3 + Math.floor(r() * 4)
  const bs: [number, number, number][] = []
  for (let b = 0; b < blobs; b++) bs.push([cx + (r() - 0.5) * rad, cy + (r() - 0.5) * rad, rad * (0.3 + 0.3 * r())])
  const mottle = valueNoise(size, 12, r)
  const amp = 35 + 35 * r()
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let m = 0
      for (const [bx, by, s] of bs) m += Math.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * s * s))
      // Soft threshold gives the blotch a ragged but definite edge.
      const mask = 1 / (1 + Math.exp(-(m - 0.5) * 8))
      if (mask > 0.01) img[y * size + x] = img[y * size + x]! - amp * mask * (0.8 + 0.35 * mottle[y * size + x]!)
    }
  }
}

const DRAW: Record<DemoClass, (img: Float32Array, size: number, r: () => number) => void> = {
  ok: () => {},
  scratch,
  crack,
  dent,
  stain,
}

/**
 * The hasty inspector. Per-class error rates average to `rate` over the five classes: ok parts are
 * mislabelled half as often as defects (x/2 for ok, x for each defect, mean 0.9x = rate). A wrong
 * label for a defect goes to its confusable partner 60% of the time, to ok (missed) 30%, to
 * another defect 10%; a wrong label for ok is a random defect.
 */
export function hastyLabel(truth: DemoClass, rate: number, r: () => number): DemoClass {
  const x = Math.min(1, rate / 0.9)
  const err = truth === 'ok' ? x / 2 : x
  if (r() >= err) return truth
  const defects = DEMO_CLASSES.filter((c) => c !== 'ok')
  if (truth === 'ok') return defects[Math.floor(r() * defects.length)]!
  const u = r()
  if (u < 0.6) return CONFUSABLE[truth]!
  if (u < 0.9) return 'ok'
  const others = defects.filter((c) => c !== truth && c !== CONFUSABLE[truth])
  return others[Math.floor(r() * others.length)]!
}

/** Renders one image (grayscale, size x size) of a class. */
export function renderDemoImage(cls: DemoClass, size: number, r: () => number): Uint8Array {
  const img = background(size, r)
  DRAW[cls](img, size, r)
  const out = new Uint8Array(size * size)
  for (let i = 0; i < out.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(img[i]!)))
  return out
}

const README = `SYNTHETIC DEMO DATA - not real inspection images.

Generated by seed-qc's demo generator (electron/engine/demo/synth.ts) to try the label-refinement
pipeline without your own data. Grayscale surfaces (brushed metal or woven fabric) with five
classes: ok, scratch, dent, stain, crack. Scratch/crack and dent/stain are drawn to be confusable.

labels.csv  path,label - labels from a simulated "hasty inspector" (a share of them are WRONG:
            confusable pairs swapped, defects missed as ok, a few false alarms).
truth.csv   path,label - the true class of every image. Only for measuring how well the
            refinement recovers the truth; never import it as labels.
images/     the PNG files (names say nothing about the class).
`

/** Writes the demo data set into `outDir` (created if needed) and returns where everything is. */
export async function generateDemo(outDir: string, opts: DemoOptions = {}): Promise<DemoResult> {
  const perClass = opts.perClass ?? 100
  const seed = opts.seed ?? 0
  const rate = opts.noiseRate ?? 0.25
  const size = opts.size ?? 96
  if (!Number.isInteger(perClass) || perClass < 1) throw new Error(`demo: perClass must be a positive integer, got ${perClass}`)
  if (!(rate >= 0 && rate < 0.9)) throw new Error(`demo: noiseRate must be in [0, 0.9), got ${rate}`)
  if (!Number.isInteger(size) || size < 32 || size > 1024) throw new Error(`demo: size must be an integer in 32..1024, got ${size}`)
  const root = resolve(outDir)
  const imagesDir = join(root, 'images')
  await mkdir(imagesDir, { recursive: true })
  const n = perClass * DEMO_CLASSES.length
  // Classes shuffled over the file numbers (Fisher-Yates), so the order reveals nothing.
  const truth: DemoClass[] = []
  for (const c of DEMO_CLASSES) for (let k = 0; k < perClass; k++) truth.push(c)
  const shuf = streamFor(seed, 0, 1)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(shuf() * (i + 1))
    ;[truth[i], truth[j]] = [truth[j]!, truth[i]!]
  }
  const width = String(n).length < 5 ? 5 : String(n).length
  const names = truth.map((_, i) => `img_${String(i + 1).padStart(width, '0')}.png`)
  const paths = names.map((nm) => `images/${nm}`)
  const labels = truth.map((t, i) => hastyLabel(t, rate, streamFor(seed, i, 2)))
  let done = 0
  let next = 0
  const worker = async () => {
    for (;;) {
      const i = next++
      if (i >= n) return
      if (opts.signal?.aborted) throw new CancelledError('demo generation')
      const px = renderDemoImage(truth[i]!, size, streamFor(seed, i, 3))
      const png = await sharp(px, { raw: { width: size, height: size, channels: 1 } })
        .png({ compressionLevel: 6 })
        .toBuffer()
      await writeFile(join(imagesDir, names[i]!), png)
      opts.progress?.({ phase: 'demo', done: ++done, total: n })
    }
  }
  await Promise.all([worker(), worker(), worker()])
  const labelsCsv = join(root, 'labels.csv')
  const truthCsv = join(root, 'truth.csv')
  await writeFile(labelsCsv, formatCsv([['path', 'label'], ...paths.map((p, i) => [p, labels[i]!])]))
  await writeFile(truthCsv, formatCsv([['path', 'label'], ...paths.map((p, i) => [p, truth[i]!])]))
  const readme = join(root, 'README.txt')
  await writeFile(readme, README + `\nseed ${seed}, ${n} images (${perClass} per class), ${size}x${size}, target label noise ${rate}.\n`)
  const noisyCount = labels.filter((l, i) => l !== truth[i]).length
  return { imagesRoot: root, labelsCsv, truthCsv, manifest: labelsCsv, readme, classes: [...DEMO_CLASSES], n, noisyCount }
}

/**
 * A QC team audits a small subset by hand to check the tool on its own data: this writes the
 * demo's manifest `path,label,trusted_label` where every `every`-th image carries its true class
 * as trusted_label (the rest of the truth stays hidden). That subset is what validation measures
 * accuracy on. Returns the manifest's path (beside the labels CSV).
 */
export function writeAuditedManifest(demo: Pick<DemoResult, 'manifest' | 'truthCsv'>, every = 5): string {
  const labels = readCsvTable(demo.manifest, { required: ['path', 'label'] })
  const truth = readCsvTable(demo.truthCsv, { required: ['path', 'label'] })
  const truthOf = new Map(truth.rows.map((r) => [r.cells[truth.col('path')]!, r.cells[truth.col('label')]!]))
  const rows = labels.rows.map((r, i) => {
    const path = r.cells[labels.col('path')]!
    return [path, r.cells[labels.col('label')]!, i % every === 0 ? (truthOf.get(path) ?? '') : '']
  })
  const manifest = join(resolve(demo.manifest, '..'), 'manifest-with-audit.csv')
  writeFileSync(manifest, formatCsv([['path', 'label', 'trusted_label'], ...rows]))
  return manifest
}
