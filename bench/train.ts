/**
 * Training benchmark (`npm run bench:train`), following ../shared/BENCHMARKS.md:
 * - fmnist: Fashion-MNIST pixel features (60k x 784, K = 10), noise symmetric 0.5/0.8, asymmetric
 *   0.5, superclass 0.8 and pairwise 0.3, over reporting seeds 1, 2, 3 (seed 0 is the one the
 *   defaults were tuned on): per row and seed, `refineArrays({ method: 'auto' })` (method, lambda
 *   and loss chosen on held-out noisy labels only) against every candidate it scores (teacher, SD
 *   rounds, PLL-GCE) at its own held-out lambda; test accuracy, recovery of the true training
 *   labels, selection time vs final-fit time, the method auto chose and the test-best method (which
 *   peeks at the test set: reference only); then mean and spread over the seeds. Optional rows at
 *   one fixed lambda (teacher, SD 1..4, PLL with CE and GCE) as before.
 * - sgd: the authors' recipe (teacher + PLL-GCE, SGD, weight decay 5e-5, last epoch) for a few
 *   epochs, extrapolated to 200 epochs each (said so in the output), against a fixed-lambda
 *   L-BFGS fit and the whole `auto` run on the same labels, timed in the same run.
 * - throughput: GFLOP/s of gradient evaluations vs onnxruntime's bare MatMul on the same shapes;
 * - scaling: N = 10k, 50k, 200k synthetic (D = 512, K = 10), time and peak RSS per child process.
 *
 * Flags: --quick (10k training rows, fewer SGD epochs, smaller scaling), --sections a,b,...,
 * --seeds N (default 3), --seed-start S (default 1), --rows N (training rows), --noise LIST
 * (comma-separated, e.g. 'symmetric 0.8,pairwise 0.3'; default all five rows),
 * --separate-selection (each fixed candidate runs its own `refineArrays({ method, lambda: 'auto' })`
 * instead of refitting at the lambda the auto run's selection found for it), --fixed-lambda
 * (also the old rows at one fixed lambda), --lambda L (that lambda, default 5e-4),
 * --lambda-scaling n|none, --method-rule noise-se|one-se|best, --sgd-epochs E, --sgd-rows N,
 * --scaling-ns 10000,50000, --json FILE. Timings on a shared machine move by 2x: ratios within
 * one run count. Benchmarks are not tests: nothing fails on a time.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { readNpy } from '../electron/engine/util/npy.ts'
import {
  classCorrelation,
  classIdentifiability,
  injectWithMatrix,
  superclassGroups,
  transitionMatrix,
  type TransitionMatrix,
} from '../electron/engine/validate/noise.ts'
import { createRng } from '../electron/engine/util/rng.ts'
import { createEngine, LinearProblem, predictModel, selectRows, type ComputeEngine } from '../electron/engine/train/engine.ts'
import { matmulGraph, sessionOptions } from '../electron/engine/train/ort-engine.ts'
import { accuracy, fitTargets, oneHot, twoHotTopTwo, type FitOptions } from '../electron/engine/train/fit.ts'
import { refineArrays } from '../electron/engine/train/refine.ts'
import type { FeatureMatrix, RefineOptions, RefineResult } from '../electron/engine/train/types.ts'

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(`--${name}`)
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt
}
const quick = flag('quick')
const out: Record<string, unknown> = { started: new Date().toISOString(), quick, argv }

// ---------------------------------------------------------------------------------------------
// Shared with bench/select.ts.

const FMNIST = process.env.FMNIST_DIR ?? '/tmp/fmnist'
export const K = 10
const FMNIST_CLASSES = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot']

export interface Fmnist {
  train: FeatureMatrix
  test: FeatureMatrix
  ytrain: Int32Array
  ytest: Int32Array
}

export function loadFmnist(): Fmnist {
  if (!existsSync(`${FMNIST}/train_x.npy`)) {
    console.log(`converting Fashion-MNIST into ${FMNIST} ...`)
    const r = spawnSync(
      process.execPath,
      [fileURLToPath(new URL('../../shared/datasets/fashion-mnist.mjs', import.meta.url)), FMNIST, '--no-images'],
      { stdio: 'inherit' },
    )
    if (r.status !== 0) throw new Error(`could not convert Fashion-MNIST into ${FMNIST}`)
  }
  // The converter writes class names (id,label); the class index is the position in its list.
  const labels = (f: string) =>
    Int32Array.from(
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l, i) => {
          const name = l.split(',')[1]!.trim()
          const c = /^\d+$/.test(name) ? Number(name) : FMNIST_CLASSES.indexOf(name)
          if (c < 0 || c >= K) throw new Error(`${f}: line ${i + 2}: unknown class '${name}'`)
          return c
        }),
    )
  const tx = readNpy(`${FMNIST}/train_x.npy`)
  const sx = readNpy(`${FMNIST}/test_x.npy`)
  const d = tx.shape[1]!
  return {
    train: { data: tx.data, n: tx.shape[0]!, d } as FeatureMatrix,
    test: { data: sx.data, n: sx.shape[0]!, d } as FeatureMatrix,
    ytrain: labels(`${FMNIST}/train_y.csv`),
    ytest: labels(`${FMNIST}/test_y.csv`),
  }
}

export const pct = (v: number) => (Number.isFinite(v) ? (100 * v).toFixed(2) : 'n/a')
export const sec = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : 'n/a')
export function table(head: string[], rows: (string | number)[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (r: (string | number)[]) => '| ' + r.map((c, i) => String(c).padEnd(w[i]!)).join(' | ') + ' |'
  console.log(line(head))
  console.log('|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|')
  for (const r of rows) console.log(line(r))
}

/** Mean, sample standard deviation, min and max. */
export function stats(v: number[]): { mean: number; sd: number; min: number; max: number; n: number } {
  const n = v.length
  if (n === 0) return { mean: NaN, sd: NaN, min: NaN, max: NaN, n }
  const mean = v.reduce((a, b) => a + b, 0) / n
  const sd = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0
  return { mean, sd, min: Math.min(...v), max: Math.max(...v), n }
}

/** "mean ± sd [min–max]" of fractions, in percent. */
export function pctSpread(v: number[]): string {
  const s = stats(v)
  if (s.n === 0) return 'n/a'
  if (s.n === 1) return pct(s.mean)
  return `${pct(s.mean)} ± ${(100 * s.sd).toFixed(2)} [${pct(s.min)}–${pct(s.max)}]`
}

/** "mean [min–max]" of milliseconds, in seconds. */
export function secSpread(v: number[]): string {
  const s = stats(v)
  if (s.n === 0) return 'n/a'
  if (s.n === 1) return sec(s.mean)
  return `${sec(s.mean)} [${sec(s.min)}–${sec(s.max)}]`
}

/** Fraction of positions where two label vectors agree. */
export function agreement(a: Int32Array, b: Int32Array): number {
  let ok = 0
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) ok++
  return a.length ? ok / a.length : NaN
}

export function subsample(x: FeatureMatrix, y: Int32Array, rows: number) {
  if (rows >= x.n) return { x, y }
  const idx = Int32Array.from({ length: rows }, (_, i) => i) // the first rows: Fashion-MNIST is shuffled
  return { x: selectRows(x, idx), y: y.slice(0, rows) }
}

/** The reporting seeds: --seed-start (default 1; seed 0 is the tuning seed) and --seeds (default 3). */
export function reportingSeeds(): number[] {
  const seeds = Number(opt('seeds', '3'))
  const start = Number(opt('seed-start', '1'))
  if (!(Number.isInteger(seeds) && seeds >= 1)) throw new Error(`--seeds must be a positive integer, got ${seeds}`)
  if (!Number.isInteger(start)) throw new Error(`--seed-start must be an integer, got ${start}`)
  return Array.from({ length: seeds }, (_, i) => start + i)
}

/** The header every bench prints: which seeds and splits tune, which report. */
export function seedsHeader(seeds: number[], extra: string[] = []): void {
  console.log(`Seeds: reporting ${seeds.join(', ')} (noise draw, selection folds and subsample, SGD shuffles).`)
  console.log('  Tuning: seed 0. The defaults (fold-lambda rescaling, the method rule, standardisation off, the lambda grid, GCE-only PLL in auto)')
  console.log('  were chosen after looking at seed 0 and at the Fashion-MNIST test set; the reporting seeds were not looked at.')
  if (seeds.includes(0)) console.log('  WARNING: seed 0 is among the reporting seeds: its rows are not an honest estimate.')
  for (const l of extra) console.log(`  ${l}`)
}

export type NoiseKind = 'symmetric' | 'asymmetric' | 'superclass' | 'pairwise'
export interface NoiseRow {
  type: NoiseKind
  rate: number
  name: string
}

export function parseNoiseRows(spec: string, dflt: string): NoiseRow[] {
  return (spec || dflt)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^(symmetric|asymmetric|superclass|pairwise)[\s:=]+([0-9.]+)$/.exec(s)
      if (!m) throw new Error(`noise row '${s}': expected e.g. 'symmetric 0.8' (symmetric, asymmetric, superclass or pairwise, rate 0..1)`)
      const rate = Number(m[2])
      if (!(rate >= 0 && rate <= 1)) throw new Error(`noise row '${s}': rate must be in [0, 1]`)
      return { type: m[1] as NoiseKind, rate, name: `${m[1]} ${rate}` }
    })
}

/**
 * Pairwise noise (BENCHMARKS.md): classes paired greedily by the class-correlation matrix M, most
 * similar pair first, each class in at most one pair; partner[c] = -1 for a class left alone.
 * Implemented here: electron/engine/validate/noise.ts has no pairwise model.
 */
export function pairwisePartners(m: number[][]): number[] {
  const k = m.length
  const pairs: { a: number; b: number; s: number }[] = []
  for (let a = 0; a < k; a++) for (let b = a + 1; b < k; b++) pairs.push({ a, b, s: m[a]![b]! })
  pairs.sort((p, q) => q.s - p.s || p.a - q.a || p.b - q.b)
  const partner = new Array<number>(k).fill(-1)
  for (const { a, b } of pairs) {
    if (partner[a] !== -1 || partner[b] !== -1) continue
    partner[a] = b
    partner[b] = a
  }
  return partner
}

/** Builds each noise row's transition matrix once (the superclass groups and pairs from the clean labels). */
export class NoiseModels {
  private groups?: number[][]
  private partners?: number[]
  constructor(
    readonly x: FeatureMatrix,
    readonly y: Int32Array,
    readonly k: number,
  ) {}
  superclassGroups(): number[][] {
    this.groups ??= superclassGroups(this.x, this.y, this.k)
    return this.groups
  }
  pairs(): number[] {
    this.partners ??= pairwisePartners(classCorrelation(this.x, this.y, this.k))
    return this.partners
  }
  matrix(row: NoiseRow): TransitionMatrix {
    if (row.type === 'pairwise') {
      const p = this.pairs()
      return Array.from({ length: this.k }, (_, a) => {
        const r = new Array<number>(this.k).fill(0)
        if (p[a]! < 0) r[a] = 1
        else {
          r[a] = 1 - row.rate
          r[p[a]!]! += row.rate
        }
        return r
      })
    }
    return transitionMatrix(row.type, this.k, row.rate, row.type === 'superclass' ? this.superclassGroups() : undefined)
  }
  draw(row: NoiseRow, seed: number): Int32Array {
    return injectWithMatrix(this.y, this.matrix(row), seed)
  }
  /** A plain-words note when the row is not identifiable (a wrong label more likely than the right one). */
  identifiabilityNote(row: NoiseRow, className: (c: number) => string = (c) => `class ${c}`): string | undefined {
    const bad = classIdentifiability(this.matrix(row)).filter((c) => !c.identifiable)
    if (bad.length === 0) return undefined
    const b = bad[0]!
    return (
      `${row.name} is NOT identifiable: for ${bad.map((c) => className(c.k)).join(', ')} a wrong label is at least as likely as the right one ` +
      `(e.g. ${className(b.k)}: right ${b.keep.toFixed(2)}, ${className(b.worst)} ${b.worstProb.toFixed(2)}). No method working from these labels ` +
      'can undo it; its accuracy figures say nothing about the selection.'
    )
  }
}

/** The part of `details.selection` the benches read. */
export interface SelectionView {
  candidates: { candidate: string; lambda: number; score: number; behind: number; pairedSe: number }[]
  winner: { candidate: string; lambda: number; score: number }
  top: { candidate: string; lambda: number; score: number }
  noise: { rate: number; compression: number; identifiable: boolean } | null
  warnings: { code: string }[]
  visited: number[]
  fits: number
  reason: string
  rows?: number
}

export function selectionOf(r: RefineResult): SelectionView | undefined {
  return r.details.selection as SelectionView | undefined
}

/** The refineArrays options that run one selection candidate ('teacher', 'sdN', 'pll-gce', 'pll-ce'). */
export function candidateOptions(c: string): Pick<RefineOptions, 'method' | 'rounds' | 'pllLoss'> {
  if (c === 'teacher') return { method: 'teacher' }
  if (/^sd\d+$/.test(c)) return { method: 'sd', rounds: Number(c.slice(2)) }
  if (c === 'pll-gce' || c === 'pll-ce') return { method: 'pll', pllLoss: c === 'pll-gce' ? 'gce' : 'ce' }
  throw new Error(`unknown selection candidate '${c}'`)
}

/** What a refinement result says it ran, as one short label: 'pll-gce', 'sd2', 'teacher'. */
export function methodLabel(r: RefineResult): string {
  if (r.method === 'sd') return `sd${String(r.chosen.rounds ?? '')}`
  if (r.method === 'pll') return `pll-${String(r.chosen.pllLoss ?? '')}`
  return r.method
}

/**
 * refineArrays on a fresh copy of the feature matrix, timed by the wall clock around the call: the
 * engine keeps per-matrix work (the row-space reduction) keyed by the array, so a second call on the
 * same array would be cheaper than what a user pays for one run. The copy is made outside the timing.
 */
export async function refineCold(x: FeatureMatrix, y: Int32Array, k: number, opts: RefineOptions): Promise<RefineResult & { wallMs: number }> {
  const xc: FeatureMatrix = { data: x.data.slice(), n: x.n, d: x.d }
  const t = performance.now()
  const r = await refineArrays(xc, y, k, opts)
  return Object.assign(r, { wallMs: performance.now() - t })
}

/** Selection and final-fit time of a refinement (ms): total is the wall time when known; the final fit is everything but selection. */
export function splitTime(r: RefineResult & { wallMs?: number }): { select: number; fit: number; total: number } {
  const total = r.wallMs ?? r.timings.total ?? NaN
  const select = r.timings.select ?? 0
  return { select, fit: total - select, total }
}

/** The authors' recipe (BENCHMARKS.md): teacher + PLL-GCE, SGD, weight decay 5e-5, last epoch. */
export function recipeOptions(epochs: number, seed: number): RefineOptions {
  return { method: 'pll', pllLoss: 'gce', solver: 'sgd', sgdStop: 'last', epochs, lambda: 5e-5, seed }
}

export interface RecipeTiming {
  result: RefineResult
  rows: number
  epochs: number
  measuredMs: number
  /** SGD time per epoch (teacher + PLL), from the per-epoch progress events; NaN with one epoch. */
  perEpochMs: number
  /** The time of 200 epochs each on `fullRows` rows: measured, or extrapolated (see `extrapolated`). */
  fullMs: number
  extrapolated: boolean
  /** How the extrapolation was made, in words ('' when measured). */
  how: string
}

/**
 * Runs the authors' recipe for `epochs` epochs each and, when that is fewer than 200 or `x` has
 * fewer rows than `fullRows`, extrapolates: the measured run plus (200 - epochs) epochs at the
 * per-epoch cost seen between epochs (so the fixed costs are counted once, not 200/epochs times),
 * then scaled linearly by fullRows / rows (an epoch's cost is linear in the rows).
 */
export async function timeRecipe(
  x: FeatureMatrix,
  noisy: Int32Array,
  k: number,
  epochs: number,
  seed: number,
  fullRows = x.n,
): Promise<RecipeTiming> {
  const stamps = new Map<string, number[]>()
  const xc: FeatureMatrix = { data: x.data.slice(), n: x.n, d: x.d }
  const t0 = performance.now()
  const result = await refineArrays(xc, noisy, k, {
    ...recipeOptions(epochs, seed),
    progress: (e) => stamps.set(e.phase, [...(stamps.get(e.phase) ?? []), performance.now()]),
  })
  const measuredMs = performance.now() - t0
  let perEpochMs = 0
  let phases = 0
  for (const ts of stamps.values()) {
    if (ts.length < 2) continue
    perEpochMs += (ts[ts.length - 1]! - ts[0]!) / (ts.length - 1)
    phases++
  }
  if (phases < 2) perEpochMs = NaN
  const extrapolated = epochs < 200 || x.n < fullRows
  let fullMs = measuredMs
  let how = ''
  if (extrapolated) {
    if (Number.isFinite(perEpochMs)) {
      fullMs = (measuredMs + Math.max(0, 200 - epochs) * perEpochMs) * (fullRows / x.n)
      how = `EXTRAPOLATED: measured ${sec(measuredMs)} s for ${epochs} epoch(s) each on ${x.n} rows, + ${Math.max(0, 200 - epochs)} more epochs each at ${(perEpochMs / 1000).toFixed(2)} s per epoch (teacher + PLL)${fullRows > x.n ? `, x ${fullRows} / ${x.n} rows` : ''}`
    } else {
      fullMs = measuredMs * (200 / epochs) * (fullRows / x.n)
      how = `EXTRAPOLATED naively (one epoch: no per-epoch cost seen, fixed costs counted ${Math.round(200 / epochs)} times, which flatters the ratio): measured ${sec(measuredMs)} s x 200 / ${epochs}${fullRows > x.n ? ` x ${fullRows} / ${x.n} rows` : ''}`
    }
  }
  return { result, rows: x.n, epochs, measuredMs, perEpochMs, fullMs, extrapolated, how }
}

export function writeJson(data: unknown): void {
  const json = opt('json', '')
  if (json) {
    writeFileSync(json, JSON.stringify(data, null, 2))
    console.log(`\nwrote ${json}`)
  }
}

// ---------------------------------------------------------------------------------------------

/** Reference "final" column of BENCHMARKS.md (authors' recipe, last epoch, seed 0), teacher / PLL. */
const REFERENCE_FINAL: Record<string, { teacher: number; pll: number }> = {
  'symmetric 0.5': { teacher: 79.2, pll: 80.24 },
  'symmetric 0.8': { teacher: 56.63, pll: 69.6 },
  'asymmetric 0.5': { teacher: 79.08, pll: 78.16 },
  'superclass 0.8': { teacher: 22.25, pll: 27.61 },
}

const DEFAULT_NOISE = 'symmetric 0.5,symmetric 0.8,asymmetric 0.5,superclass 0.8,pairwise 0.3'

interface CandidateRecord {
  candidate: string
  lambda: number
  test: number
  recovery: number
  selectMs: number
  fitMs: number
  reused: boolean
}

interface SeedRecord {
  noise: string
  seed: number
  rows: number
  given: number
  auto: { method: string; lambda: number; test: number; recovery: number; selectMs: number; fitMs: number; totalMs: number }
  selection?: SelectionView
  candidates: CandidateRecord[]
  testBest: string
  fixedLambda?: Record<string, { test: number; recovery: number; ms: number; evals: number }>
}

/** Test accuracy (other rows) and recovery of the true training labels (refined vs clean). */
async function evaluate(r: RefineResult, data: Fmnist, y: Int32Array) {
  return { test: accuracy(await r.predict(data.test), data.ytest, K), recovery: agreement(r.refined, y) }
}

/** The old rows at one fixed lambda: teacher, SD 1..4 (each from the previous round's softmax), PLL with both losses. */
async function fixedLambdaRows(engine: ComputeEngine, x: FeatureMatrix, y: Int32Array, noisy: Int32Array, data: Fmnist, lambda: number) {
  const rec: Record<string, { test: number; recovery: number; ms: number; evals: number }> = {}
  const rowsOut: (string | number)[][] = []
  const problem = new LinearProblem(await engine.load(x, K), false)
  const evalW = async (label: string, w: Float64Array, ms: number, evals: number) => {
    const test = accuracy(await predictModel(engine, problem.model(w), data.test), data.ytest, K)
    const recovery = accuracy(await problem.probs(w), y, K)
    rowsOut.push([label, pct(test), pct(recovery), sec(ms), evals])
    rec[label] = { test, recovery, ms, evals }
  }
  try {
    const fo: FitOptions = { solver: 'lbfgs', maxIter: 300 }
    let t = Date.now()
    const teacher = await fitTargets(problem, oneHot(noisy, K), 'ce', lambda, new Float64Array(problem.size), fo, 'teacher')
    const teacherMs = Date.now() - t
    await evalW('teacher', teacher.w, teacherMs, teacher.info.evaluations)
    const tProbs = await problem.probs(teacher.w)
    let prev = tProbs
    let w = teacher.w
    let sdMs = teacherMs
    for (let r = 1; r <= 4; r++) {
      t = Date.now()
      const s = await fitTargets(problem, prev, 'ce', lambda, w, fo, `sd${r}`)
      sdMs += Date.now() - t
      w = s.w
      prev = await problem.probs(w)
      await evalW(`SD ${r}`, w, sdMs, s.info.evaluations)
    }
    for (const loss of ['ce', 'gce'] as const) {
      t = Date.now()
      const s = await fitTargets(problem, twoHotTopTwo(tProbs, K), loss, lambda, teacher.w, fo, `pll-${loss}`)
      await evalW(`PLL ${loss}`, s.w, teacherMs + Date.now() - t, s.info.evaluations)
    }
  } finally {
    await problem.dispose()
  }
  console.log(`fixed lambda ${lambda} (L-BFGS, <= 300 iterations; a reference, not what a user gets):`)
  table(['model', 'test %', 'train recovery %', 'wall s (cumulative from teacher)', 'evals'], rowsOut)
  return rec
}

const autoRuns = new Map<string, { rows: number; totalMs: number; test: number; recovery: number; method: string }>()

async function sectionFmnist(engine: ComputeEngine) {
  const data = loadFmnist()
  const rows = Number(opt('rows', quick ? '10000' : '60000'))
  const { x, y } = subsample(data.train, data.ytrain, rows)
  const seeds = reportingSeeds()
  const noises = parseNoiseRows(opt('noise', ''), DEFAULT_NOISE)
  const separate = flag('separate-selection')
  const lambda = Number(opt('lambda', '5e-4'))
  const scaling = opt('lambda-scaling', '')
  const rule = opt('method-rule', '')
  const models = new NoiseModels(x, y, K)
  const cls = (c: number) => FMNIST_CLASSES[c] ?? `class ${c}`
  console.log(`\n## Fashion-MNIST pixels: auto selection vs each candidate, ${x.n} x ${x.d} training rows, ${data.test.n} test rows`)
  seedsHeader(seeds, [
    `Splits: labels of the first ${x.n} training rows corrupted; the official 10k test set (clean) only scores. The same test set was`,
    '  looked at when the defaults were chosen: only the noise draws and folds are new here.',
    `Fixed candidates: ${
      separate
        ? "each runs refineArrays({ method, lambda: 'auto' }) with its own selection (--separate-selection)."
        : "each is refitted at the lambda the auto run's own selection found best for it (same folds, same held-out labels: what refineArrays({ method, lambda: 'auto' }) picks unless its own lambda path stops earlier; --separate-selection runs that call itself, about 3x the time)."
    }`,
    '"test-best" peeks at the test set: for reference only, no user can choose that way.',
  ])
  if (noises.some((n) => n.type === 'superclass'))
    console.log(`superclass groups: ${JSON.stringify(models.superclassGroups().map((g) => g.map(cls)))}`)
  if (noises.some((n) => n.type === 'pairwise')) {
    const p = models.pairs()
    const pairs = p.flatMap((b, a) => (b > a ? [`${cls(a)}<->${cls(b)}`] : []))
    console.log(`pairwise pairs (greedy by class correlation, noise implemented in this bench): ${pairs.join(', ')}`)
  }
  const results: SeedRecord[] = []
  const summary: (string | number)[][] = []
  const summaryJson: Record<string, unknown>[] = []
  for (const noise of noises) {
    const note = models.identifiabilityNote(noise, cls)
    const perSeed: SeedRecord[] = []
    for (const seed of seeds) {
      const noisy = models.draw(noise, seed)
      const rec: Partial<SeedRecord> = { noise: noise.name, seed, rows: x.n, given: agreement(noisy, y) }
      console.log(`\n### ${noise.name}, seed ${seed} (given labels ${pct(rec.given!)}% correct)`)
      if (flag('fixed-lambda')) rec.fixedLambda = await fixedLambdaRows(engine, x, y, noisy, data, lambda)
      const auto = await refineCold(x, noisy, K, {
        method: 'auto',
        seed,
        ...(scaling ? { selectionLambdaScaling: scaling as 'n' | 'none' } : {}),
        ...(rule ? { methodRule: rule as 'noise-se' | 'one-se' | 'best' } : {}),
      })
      const at = splitTime(auto)
      const ae = await evaluate(auto, data, y)
      const sel = selectionOf(auto)
      rec.selection = sel
      rec.auto = { method: methodLabel(auto), lambda: Number(auto.chosen.lambda), ...ae, selectMs: at.select, fitMs: at.fit, totalMs: at.total }
      autoRuns.set(`${noise.name}/${seed}`, { rows: x.n, totalMs: at.total, test: ae.test, recovery: ae.recovery, method: rec.auto.method })
      const cands: CandidateRecord[] = []
      for (const c of sel?.candidates ?? []) {
        const reuse = !separate && c.candidate === sel!.winner.candidate && c.lambda === sel!.winner.lambda
        const r = reuse ? auto : await refineCold(x, noisy, K, { ...candidateOptions(c.candidate), lambda: separate ? 'auto' : c.lambda, seed })
        const t = splitTime(r)
        const e = reuse ? ae : await evaluate(r, data, y)
        cands.push({ candidate: c.candidate, lambda: Number(r.chosen.lambda), ...e, selectMs: t.select, fitMs: t.fit, reused: reuse })
      }
      rec.candidates = cands
      const best = cands.reduce<CandidateRecord | undefined>((b, c) => (!b || c.test > b.test ? c : b), undefined)
      rec.testBest = best?.candidate ?? 'n/a'
      const rowsOut: (string | number)[][] = [
        [
          `auto -> ${rec.auto.method}, lambda ${rec.auto.lambda}`,
          pct(ae.test),
          pct(ae.recovery),
          `${sec(at.select)} + ${sec(at.fit)}`,
          sel ? `${(100 * sel.winner.score).toFixed(2)}` : '',
        ],
        ...cands.map((c) => [
          `${c.candidate}, lambda ${c.lambda}${c.reused ? ' (= the auto fit)' : ''}${c.candidate === rec.testBest ? '  <- test-best' : ''}`,
          pct(c.test),
          pct(c.recovery),
          `${separate ? sec(c.selectMs) + ' + ' : ''}${sec(c.fitMs)}`,
          sel ? (100 * (sel.candidates.find((s) => s.candidate === c.candidate)?.score ?? NaN)).toFixed(2) : '',
        ]),
      ]
      table(
        ['model', 'test %', 'train recovery %', separate ? 'select + fit s' : 'select + fit s (candidates: fit only)', 'held-out agreement %'],
        rowsOut,
      )
      if (sel) {
        console.log(`selection: ${sel.reason}`)
        console.log(
          `  lambdas visited ${sel.visited.join(', ')}; ${sel.fits} fits; noise estimate ${sel.noise ? `${pct(sel.noise.rate)}% wrong, compression ${sel.noise.compression.toFixed(2)}${sel.noise.identifiable ? '' : ', NOT identifiable'}` : 'n/a'}; warnings: ${sel.warnings.map((w) => w.code).join(', ') || 'none'}`,
        )
      }
      perSeed.push(rec as SeedRecord)
      results.push(rec as SeedRecord)
    }
    // Mean and spread over the seeds.
    const candNames = [...new Set(perSeed.flatMap((r) => r.candidates.map((c) => c.candidate)))]
    const candTest = (c: string) => perSeed.map((r) => r.candidates.find((x) => x.candidate === c)?.test ?? NaN).filter(Number.isFinite)
    const regret = perSeed.map((r) => Math.max(...r.candidates.map((c) => c.test)) - r.auto.test)
    const vsTeacher = perSeed.map((r) => r.auto.test - (r.candidates.find((c) => c.candidate === 'teacher')?.test ?? NaN))
    const ref = REFERENCE_FINAL[noise.name]
    summary.push([
      noise.name,
      pctSpread(perSeed.map((r) => r.given)),
      pctSpread(perSeed.map((r) => r.auto.test)),
      ...['teacher', 'sd1', 'sd2', 'pll-gce'].map((c) => (candNames.includes(c) ? pctSpread(candTest(c)) : 'n/a')),
      perSeed.map((r) => `${r.seed}: ${r.auto.method}@${r.auto.lambda}`).join('; '),
      perSeed.map((r) => `${r.seed}: ${r.testBest}`).join('; '),
      `${(100 * stats(regret).mean).toFixed(2)} [${(100 * stats(regret).max).toFixed(2)}]`,
      `${(100 * stats(vsTeacher).mean).toFixed(2)} [${(100 * stats(vsTeacher).min).toFixed(2)}]`,
      pctSpread(perSeed.map((r) => r.auto.recovery)),
      secSpread(perSeed.map((r) => r.auto.selectMs)),
      secSpread(perSeed.map((r) => r.auto.fitMs)),
      ref ? `${ref.teacher} / ${ref.pll}` : '-',
    ])
    summaryJson.push({
      noise: noise.name,
      seeds: perSeed.map((r) => r.seed),
      given: stats(perSeed.map((r) => r.given)),
      autoTest: stats(perSeed.map((r) => r.auto.test)),
      autoRecovery: stats(perSeed.map((r) => r.auto.recovery)),
      candidatesTest: Object.fromEntries(candNames.map((c) => [c, stats(candTest(c))])),
      chosen: perSeed.map((r) => ({ seed: r.seed, method: r.auto.method, lambda: r.auto.lambda })),
      testBest: perSeed.map((r) => ({ seed: r.seed, method: r.testBest })),
      regret: stats(regret),
      autoMinusTeacher: stats(vsTeacher),
      selectMs: stats(perSeed.map((r) => r.auto.selectMs)),
      fitMs: stats(perSeed.map((r) => r.auto.fitMs)),
      identifiable: !note,
    })
    if (note) console.log(`\nNOTE: ${note}`)
  }
  console.log(`\n## Summary over seeds ${seeds.join(', ')}: mean ± sd [min–max], test accuracy % unless said otherwise (${x.n} training rows)`)
  table(
    [
      'noise',
      'given labels correct %',
      'auto test %',
      'teacher',
      'SD1',
      'SD2',
      'PLL-GCE',
      'auto chose (seed: method@lambda)',
      'test-best (peeks at the test set, for reference only)',
      'test-best - auto, points: mean [max]',
      'auto - teacher, points: mean [min]',
      'auto train recovery %',
      'auto select s',
      'auto final fit s',
      'reference final, seed 0: teacher / PLL',
    ],
    summary,
  )
  for (const s of summaryJson) if (!s.identifiable) console.log(`(${String(s.noise)}: not identifiable, see the note above)`)
  console.log('Candidates run at their own held-out lambda; "auto final fit" is everything after selection (teacher, then SD/PLL).')
  out.fmnist = { rows: x.n, seeds, separateSelection: separate, results, summary: summaryJson }
}

async function sectionSgd() {
  const data = loadFmnist()
  const rows = Number(opt('sgd-rows', quick ? '10000' : opt('rows', '60000')))
  const epochs = Number(opt('sgd-epochs', quick ? '2' : '3'))
  const lambda = Number(opt('lambda', '5e-4'))
  const seed = reportingSeeds()[0]!
  const { x, y } = subsample(data.train, data.ytrain, rows)
  const noise: NoiseRow = { type: 'symmetric', rate: 0.8, name: 'symmetric 0.8' }
  const noisy = new NoiseModels(x, y, K).draw(noise, seed)
  console.log(`\n## The authors' recipe vs L-BFGS vs auto, symmetric 0.8, seed ${seed}, ${x.n} rows (same engine, same run)`)
  const extrapolated = epochs < 200
  console.log(
    `Recipe: teacher + PLL-GCE, SGD momentum 0.9, batch 128, lr 0.05 x 0.98 per epoch, weight decay 5e-5, last epoch; ${epochs} epoch(s) each measured${extrapolated ? ', its 200-epoch time EXTRAPOLATED' : ''}.`,
  )
  const run = async (o: RefineOptions) => {
    const r = await refineCold(x, noisy, K, o)
    return { r, ...(await evaluate(r, data, y)), t: splitTime(r) }
  }
  const rt = await timeRecipe(x, noisy, K, epochs, seed)
  const recipe = await evaluate(rt.result, data, y)
  const recipe200 = rt.fullMs
  const fixed = await run({ method: 'pll', pllLoss: 'gce', lambda, seed })
  const cached = autoRuns.get(`${noise.name}/${seed}`)
  let auto: { test: number; recovery: number; totalMs: number; method: string; selectMs?: number }
  if (cached && cached.rows === x.n) {
    auto = { ...cached }
  } else {
    const a = await run({ method: 'auto', seed })
    auto = { test: a.test, recovery: a.recovery, totalMs: a.t.total, selectMs: a.t.select, method: methodLabel(a.r) }
  }
  table(
    ['what', 'test %', 'train recovery %', 'wall s'],
    [
      [`recipe, ${epochs} epoch(s) each (measured)`, pct(recipe.test), pct(recipe.recovery), sec(rt.measuredMs)],
      ...(extrapolated ? [['recipe, 200 epochs each (EXTRAPOLATED)', 'see BENCHMARKS.md', 'see BENCHMARKS.md', sec(recipe200)]] : []),
      [`L-BFGS, PLL-GCE at fixed lambda ${lambda} (teacher + PLL)`, pct(fixed.test), pct(fixed.recovery), sec(fixed.t.total)],
      [
        `auto (selection + final fit) -> ${auto.method}${cached ? ', from the fmnist section' : ''}`,
        pct(auto.test),
        pct(auto.recovery),
        sec(auto.totalMs),
      ],
    ],
  )
  const tag = extrapolated ? ' (recipe time extrapolated)' : ''
  if (rt.how) console.log(rt.how)
  console.log(`recipe / fixed-lambda L-BFGS: ${(recipe200 / fixed.t.total).toFixed(1)}x${tag}`)
  console.log(`recipe / whole auto run:      ${(recipe200 / auto.totalMs).toFixed(1)}x${tag} (target >= 30x; today 5.2x per the issue)`)
  out.sgd = {
    rows: x.n,
    seed,
    epochs,
    recipeMs: rt.measuredMs,
    recipePerEpochMs: rt.perEpochMs,
    recipe200Ms: recipe200,
    recipeExtrapolated: extrapolated,
    recipeTest: recipe.test,
    recipeRecovery: recipe.recovery,
    fixedLambda: lambda,
    fixedMs: fixed.t.total,
    fixedTest: fixed.test,
    autoMs: auto.totalMs,
    autoTest: auto.test,
    autoRecovery: auto.recovery,
    autoMethod: auto.method,
  }
}

async function sectionThroughput() {
  const data = loadFmnist()
  const n = quick ? 20000 : 60000
  const d = data.train.d
  const x: FeatureMatrix = { data: data.train.data.subarray(0, n * d), n, d }
  const y = data.ytrain.slice(0, n)
  const reps = 8
  console.log(`\n## Engine throughput: ${n} x ${d}, K = ${K}, best of ${reps}`)
  const rows: (string | number)[][] = []
  const bare = await ort.InferenceSession.create(matmulGraph(d, K), sessionOptions({}))
  const X = new ort.Tensor('float32', x.data, [n, d])
  const W = new ort.Tensor('float32', new Float32Array(d * K).fill(0.01), [d, K])
  const res: Record<string, number> = {}
  for (const [name, eng] of [
    ['ort', await createEngine('ort')],
    ['tfjs', await createEngine('tfjs')],
  ] as const) {
    // tfjs' wasm backend is far slower: measured on 1/10 of the rows.
    const m = name === 'tfjs' ? Math.floor(n / 10) : n
    const xm = { data: x.data.subarray(0, m * d), n: m, d }
    const p = new LinearProblem(await eng.load(xm, K), false)
    await p.setTargets(oneHot(y.subarray(0, m), K), 'ce')
    const w = new Float64Array(p.size).fill(0.001)
    await p.lossGrad(w, 1e-3)
    let best = Infinity
    let bestMm = Infinity
    for (let r = 0; r < reps; r++) {
      let t = performance.now()
      await p.lossGrad(w, 1e-3)
      best = Math.min(best, performance.now() - t)
      if (name === 'ort') {
        t = performance.now()
        await bare.run({ X, W })
        bestMm = Math.min(bestMm, performance.now() - t)
      }
    }
    const gf = (4 * m * d * K) / best / 1e6
    res[`${name}GradGflops`] = gf
    rows.push([`${name} (${eng.backend}) loss+gradient, ${m} rows`, best.toFixed(1), gf.toFixed(1)])
    if (name === 'ort') {
      const mm = (2 * n * d * K) / bestMm / 1e6
      res.bareMatmulGflops = mm
      rows.push([`onnxruntime bare MatMul X W, ${n} rows`, bestMm.toFixed(1), mm.toFixed(1)])
    }
    await p.dispose()
    await eng.dispose()
  }
  table(['what', 'ms per call', 'GFLOP/s'], rows)
  console.log(
    `gradient evaluation at ${((100 * res.ortGradGflops!) / res.bareMatmulGflops!).toFixed(0)}% of bare MatMul throughput (goal >= 50%); 4ndK flops per gradient evaluation, 2ndK per MatMul`,
  )
  out.throughput = res
}

/** Child process of the scaling section: synthetic features, fixed-length teacher fit. */
async function scalingChild(n: number) {
  const d = 512
  const rss0 = process.memoryUsage().rss
  const rng = createRng(1)
  const centres = Array.from({ length: K }, () => Float32Array.from({ length: d }, () => rng.normal()))
  const data = new Float32Array(n * d)
  const y = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const c = rng.int(K)
    y[i] = rng.next() < 0.5 ? rng.int(K) : c
    const ce = centres[c]!
    for (let j = 0; j < d; j++) data[i * d + j] = ce[j]! + 2 * rng.normal()
  }
  const afterData = process.memoryUsage().rss
  const t = Date.now()
  const r = await refineArrays({ data, n, d }, y, K, { method: 'pll', lambda: 1e-3, pllLoss: 'gce', maxIter: 50 })
  const ms = Date.now() - t
  console.log(
    JSON.stringify({
      n,
      d,
      ms,
      evaluations: r.details.evaluations,
      featureBytes: data.byteLength,
      rssBefore: rss0,
      rssAfterData: afterData,
      maxRss: process.resourceUsage().maxRSS * 1024,
    }),
  )
}

function sectionScaling() {
  const ns = opt('scaling-ns', quick ? '10000,50000' : '10000,50000,200000')
    .split(',')
    .map(Number)
  console.log(`\n## Scaling: synthetic D = 512, K = 10, teacher + PLL (gce), 50 L-BFGS iterations each, one child process per N`)
  const rows: (string | number)[][] = []
  const res: unknown[] = []
  for (const n of ns) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--scaling-child', String(n)], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    })
    const line = r.stdout.trim().split('\n').pop() ?? ''
    let j: { n: number; ms: number; evaluations: number; featureBytes: number; maxRss: number; rssBefore: number; rssAfterData: number }
    try {
      j = JSON.parse(line)
    } catch {
      console.log(`N = ${n}: child failed: ${r.stderr.slice(-500)}`)
      continue
    }
    res.push(j)
    const mb = (b: number) => (b / 2 ** 20).toFixed(0)
    rows.push([
      n,
      sec(j.ms),
      j.evaluations,
      ((j.ms / j.evaluations) * (1e6 / n)).toFixed(1),
      mb(j.featureBytes),
      mb(j.rssBefore),
      mb(j.maxRss),
      ((j.maxRss - j.rssBefore) / j.featureBytes).toFixed(2),
    ])
  }
  table(
    ['N', 'wall s', 'evals', 'ms per eval per 1M rows', 'features MiB', 'RSS before features MiB', 'peak RSS MiB', '(peak - before) / features'],
    rows,
  )
  out.scaling = res
}

async function main() {
  const childIdx = argv.indexOf('--scaling-child')
  if (childIdx >= 0) return scalingChild(Number(argv[childIdx + 1]))
  const sections = opt('sections', 'throughput,fmnist,sgd,scaling').split(',')
  console.log(`# bench:train ${quick ? '(quick)' : ''} — ${new Date().toISOString()}`)
  console.log('Benchmarks are not tests: nothing here fails on a time. Timings on a shared machine move by 2x; ratios within one run count.')
  const engine = await createEngine('ort')
  if (sections.includes('throughput')) await sectionThroughput()
  if (sections.includes('fmnist')) await sectionFmnist(engine)
  if (sections.includes('sgd')) await sectionSgd()
  if (sections.includes('scaling')) sectionScaling()
  await engine.dispose()
  writeJson(out)
}

// Run only as a script (bench/select.ts imports the helpers above).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
