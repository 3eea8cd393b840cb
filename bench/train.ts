/**
 * Training benchmark (`npm run bench:train`), following ../shared/BENCHMARKS.md:
 * - fmnist: Fashion-MNIST pixel features (60k x 784, K = 10), noise symmetric 0.5/0.8,
 *   asymmetric 0.5, superclass 0.8: test accuracy, train recovery and wall time of the teacher,
 *   SD rounds 1..4, PLL (CE and GCE) at a fixed lambda, and of automatic selection (lambda, loss
 *   and method chosen on held-out noisy labels only);
 * - sgd: the paper's SGD recipe vs full-batch L-BFGS, teacher + PLL, same engine;
 * - throughput: GFLOP/s of gradient evaluations vs onnxruntime's bare MatMul on the same shapes;
 * - scaling: N = 10k, 50k, 200k synthetic (D = 512, K = 10), time and peak RSS per child process.
 *
 * Flags: --quick (10k training rows, fewer SGD epochs, smaller scaling), --sections a,b,...,
 * --seeds N, --lambda L (fixed-lambda rows), --rows N (training rows), --sgd-epochs E,
 * --sgd-rows N, --lambda-scaling n|none, --method-rule one-se|best, --seed-start S, --no-fixed (auto only), --noise NAME (e.g. 'symmetric 0.8'), --scaling-ns 10000,50000, --json FILE. Timings on a shared machine move by 2x: ratios within one run count.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { readNpy } from '../electron/engine/util/npy.ts'
import { injectNoise, superclassGroups, type NoiseType } from '../electron/engine/validate/noise.ts'
import { createRng } from '../electron/engine/util/rng.ts'
import { createEngine, LinearProblem, predictModel, selectRows, type ComputeEngine } from '../electron/engine/train/engine.ts'
import { matmulGraph, sessionOptions } from '../electron/engine/train/ort-engine.ts'
import { accuracy, fitTargets, oneHot, twoHotTopTwo, type FitOptions } from '../electron/engine/train/fit.ts'
import { recommendMethod, refineArrays } from '../electron/engine/train/refine.ts'
import type { FeatureMatrix } from '../electron/engine/train/types.ts'

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(`--${name}`)
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt
}
const quick = flag('quick')
const out: Record<string, unknown> = { started: new Date().toISOString(), quick }

const FMNIST = process.env.FMNIST_DIR ?? '/tmp/fmnist'
const K = 10
const FMNIST_CLASSES = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot']

function loadFmnist() {
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

const pct = (v: number) => (100 * v).toFixed(2)
const sec = (ms: number) => (ms / 1000).toFixed(1)
function table(head: string[], rows: (string | number)[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (r: (string | number)[]) => '| ' + r.map((c, i) => String(c).padEnd(w[i]!)).join(' | ') + ' |'
  console.log(line(head))
  console.log('|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|')
  for (const r of rows) console.log(line(r))
}

/** Reference "final" column of BENCHMARKS.md (authors' recipe, last epoch), teacher / PLL. */
const REFERENCE_FINAL: Record<string, { teacher: number; pll: number }> = {
  'symmetric 0.5': { teacher: 79.2, pll: 80.24 },
  'symmetric 0.8': { teacher: 56.63, pll: 69.6 },
  'asymmetric 0.5': { teacher: 79.08, pll: 78.16 },
  'superclass 0.8': { teacher: 22.25, pll: 27.61 },
}

const NOISES: { type: NoiseType; rate: number }[] = [
  { type: 'symmetric', rate: 0.5 },
  { type: 'symmetric', rate: 0.8 },
  { type: 'asymmetric', rate: 0.5 },
  { type: 'superclass', rate: 0.8 },
]

function subsample(x: FeatureMatrix, y: Int32Array, rows: number) {
  if (rows >= x.n) return { x, y }
  const idx = Int32Array.from({ length: rows }, (_, i) => i) // the first rows: Fashion-MNIST is shuffled
  return { x: selectRows(x, idx), y: y.slice(0, rows) }
}

async function sectionFmnist(engine: ComputeEngine) {
  const data = loadFmnist()
  const rows = Number(opt('rows', quick ? '10000' : '60000'))
  const { x, y } = subsample(data.train, data.ytrain, rows)
  const seeds = Number(opt('seeds', '1'))
  const seedStart = Number(opt('seed-start', '0'))
  const fixed = !flag('no-fixed')
  const lambda = Number(opt('lambda', '5e-4'))
  const only = opt('noise', '')
  const groups = superclassGroups(x, y, K)
  console.log(`\n## Fashion-MNIST pixels: ${x.n} x ${x.d} training, ${data.test.n} test; superclass groups ${JSON.stringify(groups)}`)
  const results: Record<string, unknown>[] = []
  for (const noise of NOISES) {
    const name = `${noise.type} ${noise.rate}`
    if (only && name !== only) continue
    for (let seed = seedStart; seed < seedStart + seeds; seed++) {
      const noisy = injectNoise(y, K, { type: noise.type, rate: noise.rate, seed, groups: noise.type === 'superclass' ? groups : undefined })
      const rowsOut: (string | number)[][] = []
      const rec: Record<string, unknown> = { noise: name, seed, lambda, rows: x.n }
      const evalW = async (label: string, w: Float64Array, problem: LinearProblem, ms: number, evals: number) => {
        const test = accuracy(await predictModel(engine, problem.model(w), data.test), data.ytest, K)
        const recovery = accuracy(await problem.probs(w), y, K)
        rowsOut.push([label, pct(test), pct(recovery), sec(ms), evals])
        rec[label] = { test, recovery, ms, evals }
        return test
      }
      let t = 0
      if (fixed) {
        // Fixed lambda: teacher, SD 1..4 (each round from the previous round's softmax), PLL both losses.
        const problem = new LinearProblem(await engine.load(x, K), false)
        const fo: FitOptions = { solver: 'lbfgs', maxIter: 300 }
        t = Date.now()
        const teacher = await fitTargets(problem, oneHot(noisy, K), 'ce', lambda, new Float64Array(problem.size), fo, 'teacher')
        const teacherMs = Date.now() - t
        await evalW('teacher', teacher.w, problem, teacherMs, teacher.info.evaluations)
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
          await evalW(`SD ${r}`, w, problem, sdMs, s.info.evaluations)
        }
        for (const loss of ['ce', 'gce'] as const) {
          t = Date.now()
          const s = await fitTargets(problem, twoHotTopTwo(tProbs, K), loss, lambda, teacher.w, fo, `pll-${loss}`)
          const ms = Date.now() - t
          await evalW(`PLL ${loss}`, s.w, problem, teacherMs + ms, s.info.evaluations)
        }
        await problem.dispose()
      }
      // Automatic: recommend a method on held-out noisy labels, then run it with its lambda.
      t = Date.now()
      const scaling = opt('lambda-scaling', '')
      const rule = opt('method-rule', '')
      const r = await recommendMethod(x, noisy, K, {
        seed,
        ...(scaling ? { selectionLambdaScaling: scaling as 'n' | 'none' } : {}),
        ...(rule ? { methodRule: rule as 'one-se' | 'best' } : {}),
      })
      const recMs = Date.now() - t
      // Auto PLL = what refineArrays({ method: 'pll' }) selects: the best PLL candidate of the same
      // validation (same seed, folds, subsample and lambda path, so the same scores).
      const bestPll = (r.best['pll-gce']?.score ?? -1) >= (r.best['pll-ce']?.score ?? -1) ? 'gce' : 'ce'
      const pllChoice = { lambda: r.best[`pll-${bestPll}`]!.lambda, pllLoss: bestPll as 'gce' | 'ce' }
      t = Date.now()
      const autoPll = await refineArrays(x, noisy, K, { method: 'pll', ...pllChoice, seed })
      const autoPllFitMs = Date.now() - t
      const autoPllTest = accuracy(await autoPll.predict(data.test), data.ytest, K)
      let autoTest = autoPllTest
      let autoRec = accuracy(autoPll.probs, y, K)
      let autoFitMs = autoPllFitMs
      if (!(r.method === 'pll' && r.pllLoss === pllChoice.pllLoss && r.lambda === pllChoice.lambda)) {
        t = Date.now()
        const auto = await refineArrays(x, noisy, K, { method: r.method, rounds: r.rounds, pllLoss: r.pllLoss, lambda: r.lambda, seed })
        autoFitMs = Date.now() - t
        autoTest = accuracy(await auto.predict(data.test), data.ytest, K)
        autoRec = accuracy(auto.probs, y, K)
      }
      const label = `auto: ${r.method}${r.rounds ? ' ' + r.rounds : ''}${r.pllLoss ? ' ' + r.pllLoss : ''}, lambda ${r.lambda}`
      rowsOut.push([label, pct(autoTest), pct(autoRec), `${sec(recMs + autoFitMs)} (select ${sec(recMs)})`, ''])
      rowsOut.push([
        `auto PLL: ${pllChoice.pllLoss}, lambda ${pllChoice.lambda}`,
        pct(autoPllTest),
        pct(accuracy(autoPll.probs, y, K)),
        `${sec(recMs + autoPllFitMs)} (select ${sec(recMs)})`,
        '',
      ])
      const scoreLine = Object.entries(r.best)
        .map(([c, b]) => `${c} ${pct(b.score)}@${b.lambda}`)
        .join(', ')
      console.log(`held-out agreement with the noisy labels (best lambda per candidate): ${scoreLine}`)
      rec.auto = {
        method: r.method,
        rounds: r.rounds,
        pllLoss: r.pllLoss,
        lambda: r.lambda,
        test: autoTest,
        recovery: autoRec,
        fitMs: autoFitMs,
        selectMs: recMs,
        best: r.best,
      }
      rec.autoPll = { ...pllChoice, test: autoPllTest, fitMs: autoPllFitMs }
      results.push(rec)
      const ref = REFERENCE_FINAL[name]!
      console.log(`\n### ${name}, seed ${seed} (fixed lambda ${lambda}; reference final: teacher ${ref.teacher}, PLL ${ref.pll})`)
      table(['model', 'test %', 'train recovery %', 'wall s (cumulative from teacher)', 'evals'], rowsOut)
      const goal = Math.max(ref.teacher, ref.pll, name === 'symmetric 0.8' ? 75 : 0)
      console.log(
        `auto vs goal (>= reference final${name === 'symmetric 0.8' ? ', >= 75' : ''}): ${pct(autoTest)} vs ${goal} -> ${100 * autoTest >= goal ? 'met' : 'NOT met'}`,
      )
    }
  }
  out.fmnist = results
}

async function sectionSgd(engine: ComputeEngine) {
  const data = loadFmnist()
  const rows = Number(opt('sgd-rows', quick ? '10000' : '60000'))
  const epochs = Number(opt('sgd-epochs', quick ? '2' : '3'))
  const lambda = Number(opt('lambda', '5e-4'))
  const { x, y } = subsample(data.train, data.ytrain, rows)
  const noisy = injectNoise(y, K, { type: 'symmetric', rate: 0.8, seed: 0 })
  console.log(`\n## SGD recipe vs L-BFGS, symmetric 0.8, ${x.n} rows, lambda ${lambda} (same engine)`)
  const problem = new LinearProblem(await engine.load(x, K), false)
  const test = async (w: Float64Array) => accuracy(await predictModel(engine, problem.model(w), data.test), data.ytest, K)
  // L-BFGS teacher + PLL (gce, from the teacher).
  let t = Date.now()
  const teacher = await fitTargets(problem, oneHot(noisy, K), 'ce', lambda, new Float64Array(problem.size), { maxIter: 300 }, 'teacher')
  const pll = await fitTargets(problem, twoHotTopTwo(await problem.probs(teacher.w), K), 'gce', lambda, teacher.w, { maxIter: 300 }, 'pll')
  const lbfgsMs = Date.now() - t
  const lbfgsTeacher = await test(teacher.w)
  const lbfgsPll = await test(pll.w)
  // SGD recipe: `epochs` epochs each for teacher and PLL, timed; 200 epochs extrapolated linearly.
  t = Date.now()
  const st = await fitTargets(
    problem,
    oneHot(noisy, K),
    'ce',
    lambda,
    new Float64Array(problem.size),
    { solver: 'sgd', epochs, seed: 0 },
    'sgd teacher',
  )
  const sp = await fitTargets(problem, twoHotTopTwo(await problem.probs(st.w), K), 'gce', lambda, st.w, { solver: 'sgd', epochs, seed: 1 }, 'sgd pll')
  const sgdMs = Date.now() - t
  const sgdTeacher = await test(st.w)
  const sgdPll = await test(sp.w)
  const extrap = ((sgdMs * 200) / epochs) * (60000 / x.n)
  await problem.dispose()
  table(
    ['solver', 'teacher test %', 'PLL test %', 'wall s (teacher + PLL)'],
    [
      ['L-BFGS (to the optimum, <= 300 it.)', pct(lbfgsTeacher), pct(lbfgsPll), sec(lbfgsMs)],
      [`SGD recipe, ${epochs} epochs each (measured)`, pct(sgdTeacher), pct(sgdPll), sec(sgdMs)],
      ...(epochs < 200 || x.n < 60000
        ? [[`SGD recipe, 200 epochs each on 60k rows (EXTRAPOLATED linearly)`, 'see reference', 'see reference', sec(extrap)]]
        : []),
    ],
  )
  console.log(
    `L-BFGS speed-up over the SGD recipe (200 epochs${epochs < 200 || x.n < 60000 ? ', extrapolated' : ''}): ${(extrap / (lbfgsMs * (60000 / x.n))).toFixed(1)}x (goal >= 30x)`,
  )
  out.sgd = { rows: x.n, epochs, lambda, lbfgsMs, lbfgsTeacher, lbfgsPll, sgdMs, sgdTeacher, sgdPll, sgd200ExtrapolatedMs: extrap }
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
  const engine = await createEngine('ort')
  if (sections.includes('throughput')) await sectionThroughput()
  if (sections.includes('fmnist')) await sectionFmnist(engine)
  if (sections.includes('sgd')) await sectionSgd(engine)
  if (sections.includes('scaling')) sectionScaling()
  await engine.dispose()
  const json = opt('json', '')
  if (json) writeFileSync(json, JSON.stringify(out, null, 2))
}

await main()
