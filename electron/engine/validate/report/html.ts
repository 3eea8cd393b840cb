/**
 * The validation report as one self-contained HTML page for people who will not open a terminal:
 * no scripts, no external fonts or images, charts drawn by the chart kit as inline SVG, readable
 * on screen and on paper. Built with the escaping `safeHtml` template: every interpolated value is
 * escaped unless it is markup the template made or the chart kit's SVG, passed through `raw`.
 */
import { reviewColumns } from '../../../../shared/review-columns.ts'
import type { CellResult, MetricName, NoiseModel, ReviewSummaryRow, SummaryRow, ValidationNoise, ValidationResult } from '../validate.ts'
import { barChart, COLORS, DASHES, heatmap, lineChart, type Series } from './charts.ts'
import { checkResult, fmtValue, methodName, NOISE_NAMES, noiseLabel, pct, prob } from './format.ts'
import { joinHtml, raw, safeHtml, type SafeHtml } from './template.ts'

/** Names the report's maker in its head: `qc validate` replaces an earlier report only when it carries this (usecases/validate.ts). */
export const REPORT_GENERATOR = 'seed-qc validation report'

export interface HtmlOptions {
  title?: string
  /** Which cell's confusion matrices to show (default: the winning method at the highest
   * identifiable rate of the first injected noise type). */
  confusion?: { noiseType: ValidationNoise; rate: number; method: string; seed?: number }
  /** Shown as the report date (default: the result's finish time, else now). */
  date?: string
}

/**
 * Plain-language sentences for a non-identifiable noise model, e.g. "superclass 0.8: within the
 * group {sandal, sneaker, bag, ankle-boot} a wrong label is more likely (0.27) than the right one
 * (0.2); no method can undo this noise."
 */
export function identifiabilityNotes(model: NoiseModel, classNames: string[], groups: number[][] | null): string[] {
  const bad = model.classes.filter((c) => !c.identifiable)
  if (bad.length === 0) return []
  const head = `${NOISE_NAMES[model.noiseType] ?? model.noiseType} ${model.rate}`
  const rel = (c: { keep: number; worstProb: number }) =>
    Math.abs(c.worstProb - c.keep) < 1e-9
      ? `a wrong label is as likely (${prob(c.worstProb)}) as the right one (${prob(c.keep)})`
      : `a wrong label is more likely (${prob(c.worstProb)}) than the right one (${prob(c.keep)})`
  const name = (k: number) => classNames[k] ?? String(k)
  const tail = 'no method can undo this noise'
  if (model.noiseType === 'superclass' && groups) {
    const notes: string[] = []
    for (const g of groups) {
      const inG = bad.filter((c) => g.includes(c.k))
      if (inG.length === 0) continue
      notes.push(`${head}: within the group {${g.map(name).join(', ')}} ${rel(inG[0]!)}; ${tail}.`)
    }
    return notes
  }
  if (
    bad.length === model.classes.length &&
    bad.every((c) => Math.abs(c.keep - bad[0]!.keep) < 1e-9 && Math.abs(c.worstProb - bad[0]!.worstProb) < 1e-9)
  ) {
    return [`${head}: for every class ${rel(bad[0]!)}; ${tail}.`]
  }
  return bad.map(
    (c) =>
      `${head}: for class ${name(c.k)}, the wrong label ${name(c.worst)} is ${rel(c).replace(/^a wrong label is /, '')}; ${tail} for this class.`,
  )
}

const STRATEGY_NAMES: Record<string, string> = {
  feedback: 'with feedback (least certain first, re-fit after each batch)',
  static: 'without feedback, most certain first (the default queue)',
  uncertain: 'without feedback, least certain first',
  cl: 'confident-learning ranking',
}

/** x ticks for a review axis: about five round numbers up to the last count. */
function reviewTicks(last: number): number[] {
  const step = [10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000].find((s) => last / s <= 6) ?? Math.ceil(last / 5)
  const t: number[] = []
  for (let v = 0; v <= last; v += step) t.push(v)
  return t
}

/** "How many images do we have to look at?": the review simulation's curves per noise setting. */
function reviewSection(result: ValidationResult): SafeHtml[] {
  const rows = result.reviewSummary ?? []
  const sims = result.reviewSims ?? []
  if (rows.length === 0 && sims.length === 0) return []
  const out: SafeHtml[] = [safeHtml`<h2>How many images do we have to look at?</h2>`]
  const cfg = result.config.review
  out.push(
    safeHtml`<p>A simulated inspector reviews the flagged samples ${cfg ? `in batches of ${cfg.batch}, up to ${cfg.budget} reviews,` : ''} and answers with the true label. <strong>With feedback</strong> (the app's “Learn from my decisions”) the queue shows the least certain flags first, the refinement is re-fitted after every batch with the answers as clean labels (same method and regularisation as at the start) and the remaining flags are re-ranked. <strong>Without feedback</strong> the first ranking is walked in order: most certain first (the default queue), and least certain first (the same queue rule as with feedback, so the difference between “with feedback” and this curve is the learning itself); the <strong>confident-learning ranking</strong> is walked in order too. Left: unreviewed samples take the suggested label (as an export with “take the suggestion” does); right: they keep their given label (the default), so only reviews count there.</p>`,
  )
  const failed = sims.filter((s) => s.error)
  if (failed.length) {
    out.push(
      safeHtml`<div class="callout"><p><strong>${failed.length} simulation(s) failed</strong> and are left out:</p>${failed.map((s) => safeHtml`<p>${`${noiseLabel(s.noiseType, s.rate)}, seed ${s.seed}: ${s.error}`}</p>`)}</div>`,
    )
  }
  const settings = [...new Map(rows.map((r) => [`${r.noiseType}|${r.rate}`, r])).values()]
  const order = ['feedback', 'static', 'uncertain', 'cl']
  for (const st of settings) {
    const group = rows
      .filter((r) => r.noiseType === st.noiseType && r.rate === st.rate)
      .sort((a, b) => order.indexOf(a.strategy) - order.indexOf(b.strategy))
    const seriesOf = (m: 'correct' | 'correctKept'): Series[] =>
      group.map((r, i) => ({
        name: STRATEGY_NAMES[r.strategy] ?? r.strategy,
        color: COLORS[i % COLORS.length]!,
        dash: DASHES[i % DASHES.length]!,
        marker: i,
        points: r.reviews.map((x, j) => ({ x, y: r[m].mean[j]!, err: r[m].std[j] })),
      }))
    const last = Math.max(...group.map((r) => r.reviews[r.reviews.length - 1] ?? 0))
    const common = { yLabel: 'labels correct', xLabel: 'reviews', xTicks: reviewTicks(last), fitY: true }
    out.push(safeHtml`<h3>${noiseLabel(st.noiseType, st.rate)} (${st.n === 1 ? 'one seed' : `${st.n} seeds`})</h3>`)
    // What every curve starts from: the refinement a user would run (auto unless the sweep fixed
    // lambda), whatever methods the sweep compares.
    const starts = [
      ...new Set(
        sims
          .filter((s) => s.result && s.noiseType === st.noiseType && s.rate === st.rate)
          .map((s) => {
            const c = s.result!.chosen
            const m =
              c.method === 'sd' ? `SD${c.rounds ?? ''}` : c.method === 'pll' ? `PLL${c.pllLoss ? `-${c.pllLoss.toUpperCase()}` : ''}` : c.method
            return `${m}, λ ${c.lambda.toPrecision(2)}`
          }),
      ),
    ]
    out.push(
      safeHtml`<p class="small">Start run of every curve (auto on each draw, at the sweep’s λ when it fixes one; the methods compared above do not apply here): ${starts.join('; ')}.</p>`,
    )
    const figs = [
      lineChart({ title: 'Labels correct, suggestions taken', series: seriesOf('correct'), ...common }),
      lineChart({ title: 'Labels correct, given labels kept', series: seriesOf('correctKept'), ...common }),
    ]
    out.push(safeHtml`<div class="figs">${figs.map(raw)}</div>`)
    out.push(reviewTable(group))
  }
  return out
}

function reviewTable(group: ReviewSummaryRow[]): SafeHtml {
  const marks = reviewColumns(group.flatMap((r) => r.reviews))
  const at = (r: ReviewSummaryRow, m: 'correct' | 'correctKept', x: number) => {
    let j = 0
    for (let i = 0; i < r.reviews.length; i++) if (r.reviews[i]! <= x) j = i
    return metricCell(r[m].mean[j], r[m].std[j], safeHtml``)
  }
  const head = marks.map((x) => safeHtml`<th>${x}</th>`)
  const body = group.flatMap((r) => [
    safeHtml`<tr><td class="l">${STRATEGY_NAMES[r.strategy] ?? r.strategy}, suggestions taken</td>${marks.map((x) => at(r, 'correct', x))}<td>${r.seconds.toFixed(1)}</td></tr>`,
    safeHtml`<tr><td class="l">${STRATEGY_NAMES[r.strategy] ?? r.strategy}, given labels kept</td>${marks.map((x) => at(r, 'correctKept', x))}<td>${r.seconds.toFixed(1)}</td></tr>`,
  ])
  return safeHtml`<table class="review"><thead><tr><th class="l">Labels correct % after … reviews</th>${head}<th>Own fits (s)</th></tr></thead><tbody>${body}</tbody></table>`
}

function defaultConfusionCell(result: ValidationResult): CellResult | undefined {
  const ok = result.cells.filter((c) => !c.error && (c.confusionTrain || c.confusionTrusted))
  if (ok.length === 0) return undefined
  const firstType = result.config.noiseTypes.find((t) => t !== 'none') ?? result.config.noiseTypes[0]
  const candidates = result.best
    .filter((b) => b.noiseType === firstType)
    .filter((b) => {
      const m = result.noiseModels.find((n) => n.noiseType === b.noiseType && n.rate === b.rate)
      return !m || m.identifiable
    })
    .sort((a, b) => b.rate - a.rate)
  const pick = candidates[0] ?? result.best[0]
  if (pick) {
    const c = ok.find((x) => x.noiseType === pick.noiseType && x.rate === pick.rate && x.method === pick.method)
    if (c) return c
  }
  return ok[0]
}

const CSS = `
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1a1a1a;max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}h3{font-size:16px;margin:20px 0 6px}
.sub{color:#555;margin:0 0 16px}
.callout{border-left:5px solid #b00020;background:#fdecee;padding:10px 14px;margin:10px 0;border-radius:3px}
.callout.ok{border-color:#0072B2;background:#eaf3fa}
.callout p{margin:4px 0}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f2f2f2}
td.l,th.l{text-align:left}
.summary td,.glance td:not(:nth-child(2)),.cells td:not(:last-child){white-space:nowrap}
tr.ni td{background:#fff5f5}
.best{font-weight:700}
.figs{display:flex;flex-wrap:wrap;gap:12px}
.fig{margin:0;break-inside:avoid;page-break-inside:avoid}
svg.chart,svg.heat{max-width:100%;height:auto}
figcaption{font-size:12px;max-width:560px}
.lg{display:inline-block;margin-right:12px;white-space:nowrap}.lg svg{vertical-align:middle;margin-right:4px}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
.ct{font-size:14px;font-weight:600}.tick{font-size:11px;fill:#333}.al{font-size:12px;fill:#333}
.grid{stroke:#e4e4e4}.axis{stroke:#444}.ref{stroke:#777;stroke-width:1.5;stroke-dasharray:5 4;fill:none}
.shade{fill:#fdecee}.shadet{font-size:10px;fill:#b00020}
.hc{stroke:#fff}.hv{font-size:11px;fill:#111}.hv.inv{fill:#fff}
.muted{color:#666;font-size:13px}
.tie{font-weight:400;color:#666;font-size:13px}
dl.defs dt{font-weight:600;margin-top:6px}dl.defs dd{margin:0 0 0 16px}
@media print{body{padding:0;font-size:12px;max-width:none}h2{break-after:avoid}.callout,table,tr{break-inside:avoid}a{color:inherit}}
`

/** A table cell for a metric (percent, with ± one standard deviation when given) carrying the raw value. */
function metricCell(v: number | undefined, sd: number | undefined, attrs: SafeHtml): SafeHtml {
  if (v === undefined) return safeHtml`<td${attrs}>–</td>`
  const spread = sd !== undefined && sd > 0 ? ` ± ${pct(sd)}` : ''
  return safeHtml`<td${attrs} data-value="${v}">${pct(v)}${spread}</td>`
}

const HOW_TO_READ = safeHtml`<dl class="defs">
<dt>Trusted accuracy</dt><dd>Share of the trusted samples the trained model classifies correctly. The trusted split is never trained on.</dd>
<dt>Label recovery</dt><dd>Share of training samples whose cleaned label equals the true label (known only when the noise was injected on purpose).</dd>
<dt>Flag precision / recall</dt><dd>A sample is flagged when the cleaned label differs from the label it was given. Precision: of the flagged samples, the share whose given label was really wrong. Recall: of the really wrong labels, the share that got flagged.</dd>
<dt>Injected noise</dt><dd>Share of training labels actually changed by the noise draw.</dd>
<dt>Noise estimated (CL)</dt><dd>Confident learning's own estimate, from the labels and features alone, of the share of wrong labels; on your real labels (no injected noise) it is the best available guess of how noisy they are.</dd>
<dt>Noise types</dt><dd>Symmetric: a wrong label is drawn uniformly from the other classes. Asymmetric: extra weight on one "next" class. Superclass: labels are only swapped inside groups of look-alike classes, found by clustering how similar the classes' features are.</dd>
<dt>Identifiable</dt><dd>Whether, for every class, the right label stays more likely than any single wrong label. If not, the wrong label is the majority and no cleaning method can tell.</dd>
<dt>Methods</dt><dd>Teacher: a linear classifier trained on the given labels. SD round t: t rounds of self-distillation, each trained on the previous round's outputs. PLL student: one student trained on the teacher's top two classes. Confident learning: flags labels the model confidently disagrees with.</dd>
</dl>`

/**
 * The report as one self-contained HTML page: summary and plain-language warnings first, then
 * charts, confusion matrices, every number, the settings and how to read them. All user text
 * (class names, titles, metadata) is escaped by the template.
 */
export function toHtml(result: ValidationResult, opts: HtmlOptions = {}): string {
  checkResult(result)
  const title = opts.title ?? 'Label refinement: proof-of-concept validation'
  const date = opts.date ?? result.finishedAt ?? new Date().toISOString()
  const names = result.classNames
  const cfg = result.config
  const methods = [...new Set(result.cells.map((c) => c.method))]
  const style = new Map(methods.map((m, i) => [m, { color: COLORS[i % COLORS.length]!, dash: DASHES[i % DASHES.length]!, marker: i }]))
  const modelOf = (t: string, r: number) => result.noiseModels.find((m) => m.noiseType === t && m.rate === r)
  const body: SafeHtml[] = []

  body.push(safeHtml`<h1>${title}</h1>`)
  const metaBits = [
    `Date: ${date.slice(0, 16).replace('T', ' ')} UTC`,
    result.meta.dataset ? `Dataset: ${result.meta.dataset}` : '',
    result.meta.backbone ? `Features: ${result.meta.backbone}` : '',
    `${result.meta.nTrain} training samples, ${result.meta.nTrusted} trusted samples, ${names.length} classes`,
  ].filter(Boolean)
  body.push(safeHtml`<p class="sub">${joinHtml(metaBits, ' · ')}</p>`)
  if (!result.complete) {
    body.push(
      safeHtml`<div class="callout"><p><strong>Incomplete sweep.</strong> ${result.cells.length} cells finished; the run was stopped before the end. The numbers below cover the finished cells only.</p></div>`,
    )
  }

  // --- at a glance
  body.push(safeHtml`<h2>At a glance</h2>`)
  body.push(
    safeHtml`<p>Each method relabels the training samples from their features and the (noisy) labels alone; it is then scored on the <strong>trusted split</strong> (${result.meta.trustedSource ?? 'held-out samples with correct labels'}), which no method ever trains on or uses for a choice.</p>`,
  )
  const notes = result.noiseModels.flatMap((m) => identifiabilityNotes(m, names, result.groups))
  if (notes.length) {
    body.push(
      safeHtml`<div class="callout"><p><strong>Noise that cannot be undone.</strong> Label cleaning works by letting the majority label among similar samples out-vote the wrong ones. Where a wrong label is at least as common as the right one, the majority is wrong, and low numbers there say nothing about the method:</p>${notes.map((n) => safeHtml`<p>${n}</p>`)}</div>`,
    )
  }
  if (result.best.length) {
    const rows = result.best.map((b) => {
      const teacher = result.summary.find((s) => s.noiseType === b.noiseType && s.rate === b.rate && s.method === 'teacher')
      const bestRow = result.summary.find((s) => s.noiseType === b.noiseType && s.rate === b.rate && s.method === b.method)!
      // A win by less than the seeds' spread is a tie in practice: say so next to the name.
      const runnerUp = result.summary
        .filter((s) => s.noiseType === b.noiseType && s.rate === b.rate && s.method !== b.method && s.mean.trustedAccuracy !== undefined)
        .sort((x, y) => y.mean.trustedAccuracy! - x.mean.trustedAccuracy!)[0]
      const spread = Math.max(bestRow.std.trustedAccuracy ?? 0, runnerUp?.std.trustedAccuracy ?? 0)
      const clear = !runnerUp || b.trustedAccuracy - runnerUp.mean.trustedAccuracy! > spread
      const model = modelOf(b.noiseType, b.rate)
      const ni = model && !model.identifiable
      const delta =
        teacher && b.method !== 'teacher' && teacher.mean.trustedAccuracy !== undefined
          ? `${(b.trustedAccuracy - teacher.mean.trustedAccuracy) * 100 >= 0 ? '+' : ''}${((b.trustedAccuracy - teacher.mean.trustedAccuracy) * 100).toFixed(1)} points`
          : b.method === 'teacher'
            ? 'the teacher itself'
            : '–'
      const tie = clear ? '' : safeHtml`<span class="tie"> (tie with ${methodName(runnerUp!.method)}: within the seeds' spread)</span>`
      return safeHtml`<tr${ni ? safeHtml` class="ni"` : ''}><td class="l">${noiseLabel(b.noiseType, b.rate)}${ni ? ' (not identifiable)' : ''}</td><td class="l best">${methodName(b.method)}${tie}</td><td>${pct(b.trustedAccuracy)}</td><td>${delta}</td><td>${pct(bestRow.mean.givenAccuracy)}</td><td>${pct(bestRow.mean.recovery)}</td></tr>`
    })
    body.push(
      safeHtml`<table class="glance"><thead><tr><th class="l">Noise</th><th class="l">Best method</th><th>Trusted accuracy %</th><th>vs teacher</th><th>Training labels correct before %</th><th>after %</th></tr></thead><tbody>${rows}</tbody></table>`,
    )
    // Where even the best method leaves fewer training labels right than the given ones had, the
    // honest advice is not to take its suggestions there: say so beside the winner's name.
    // Only against a known truth (meta.truthKnown): otherwise "labels correct" is agreement with
    // the given labels, which a method that corrects wrong labels lowers.
    const worse = (result.meta.truthKnown ? result.best : []).flatMap((b) => {
      const row = result.summary.find((s) => s.noiseType === b.noiseType && s.rate === b.rate && s.method === b.method)
      const before = row?.mean.givenAccuracy
      const after = row?.mean.recovery
      return before !== undefined && after !== undefined && after < before ? [{ b, before, after }] : []
    })
    if (worse.length)
      body.push(
        safeHtml`<div class="callout" data-testid="worse-than-given"><p><strong>Cleaning makes the labels worse here.</strong> ${joinHtml(
          worse.map(
            (w) =>
              safeHtml`At ${noiseLabel(w.b.noiseType, w.b.rate)} the best method's labels are right for ${pct(w.after)}% of the training samples, against ${pct(w.before)}% for the given labels.`,
          ),
          ' ',
        )} There, keep the given labels (export without taking the suggestions) and use the flags only to choose what to review.</p></div>`,
      )
    const wins = new Map<string, number>()
    for (const b of result.best) wins.set(b.method, (wins.get(b.method) ?? 0) + 1)
    const ranked = [...wins.entries()].sort((a, b) => b[1] - a[1])
    const winText = joinHtml(
      ranked.map(([m, n]) => `${methodName(m)} wins ${n} of ${result.best.length} settings`),
      '; ',
    )
    body.push(safeHtml`<p>${winText}. Differences smaller than the spread over seeds (± in the tables) are not meaningful.</p>`)
  }
  for (const s of result.summary) {
    if (s.noiseType !== 'none' || s.mean.estimatedNoiseRate === undefined) continue
    const known = s.mean.noiseRate !== undefined ? ` (the true share is ${pct(s.mean.noiseRate)}%)` : ''
    body.push(
      safeHtml`<p>Confident learning estimates that <strong>${pct(s.mean.estimatedNoiseRate)}%</strong> of the given training labels are wrong${known}.</p>`,
    )
  }
  const failed = result.cells.filter((c) => c.error)
  if (failed.length) {
    const lines = failed
      .slice(0, 20)
      .map((c) => safeHtml`<p>${`${noiseLabel(c.noiseType, c.rate)}, seed ${c.seed}, ${methodName(c.method)}: ${c.error}`}</p>`)
    body.push(safeHtml`<div class="callout"><p><strong>${failed.length} cell(s) failed</strong> and are left out of the averages:</p>${lines}</div>`)
  }

  // --- charts (the chart kit escapes its own labels and returns finished SVG: inserted with raw)
  body.push(safeHtml`<h2>Accuracy and label recovery</h2>`)
  for (const t of cfg.noiseTypes) {
    const rows = result.summary.filter((s) => s.noiseType === t)
    if (rows.length === 0) continue
    body.push(safeHtml`<h3>${t === 'none' ? 'Labels as given (no injected noise)' : `${NOISE_NAMES[t] ?? t} noise`}</h3>`)
    const figs: string[] = []
    if (t === 'none') {
      const bars = methods
        .map((m) => ({ m, r: rows.find((s) => s.method === m) }))
        .filter((b): b is { m: string; r: SummaryRow } => b.r?.mean.trustedAccuracy !== undefined)
        .map(({ m, r }) => ({ name: methodName(m), color: style.get(m)!.color, y: r.mean.trustedAccuracy!, err: r.std.trustedAccuracy }))
      figs.push(barChart('Accuracy on the trusted split', bars))
      const rec = methods
        .map((m) => ({ m, r: rows.find((s) => s.method === m) }))
        .filter((b): b is { m: string; r: SummaryRow } => b.r?.mean.recovery !== undefined)
        .map(({ m, r }) => ({ name: methodName(m), color: style.get(m)!.color, y: r.mean.recovery!, err: r.std.recovery }))
      if (rec.length) figs.push(barChart('Training labels recovered', rec))
    } else {
      const shade = cfg.rates.filter((r) => modelOf(t, r)?.identifiable === false)
      const series = (metric: MetricName): Series[] =>
        methods
          .map((m) => {
            const st = style.get(m)!
            const points = rows
              .filter((s) => s.method === m && s.mean[metric] !== undefined)
              .map((s) => ({ x: s.rate, y: s.mean[metric]!, err: s.std[metric] }))
            return { name: methodName(m), ...st, points }
          })
          .filter((s) => s.points.length > 0)
      figs.push(lineChart({ title: 'Accuracy on the trusted split', yLabel: 'accuracy', series: series('trustedAccuracy'), shade }))
      const rec = series('recovery')
      if (rec.length) {
        const given = [...new Set(rows.map((s) => s.rate))]
          .sort((a, b) => a - b)
          .map((r) => ({ x: r, y: rows.find((s) => s.rate === r && s.mean.givenAccuracy !== undefined)?.mean.givenAccuracy }))
          .filter((p): p is { x: number; y: number } => p.y !== undefined)
        figs.push(
          lineChart({
            title: 'Training labels recovered (refined = true)',
            yLabel: 'labels correct',
            series: rec,
            reference: { name: 'noisy labels before cleaning', points: given },
            shade,
          }),
        )
      }
    }
    body.push(safeHtml`<div class="figs">${figs.map(raw)}</div>`)
  }
  const nSeeds = Math.max(0, ...result.summary.map((s) => s.n))
  body.push(
    safeHtml`<p class="muted">Points are means over ${nSeeds === 1 ? 'one seed' : `${nSeeds} seeds`}; bars show ± one standard deviation over seeds.</p>`,
  )

  // --- review simulation (config.review)
  body.push(...reviewSection(result))

  // --- confusion matrices
  const cc = opts.confusion
    ? result.cells.find(
        (c) =>
          !c.error &&
          c.noiseType === opts.confusion!.noiseType &&
          c.rate === opts.confusion!.rate &&
          c.method === opts.confusion!.method &&
          (opts.confusion!.seed === undefined || c.seed === opts.confusion!.seed),
      )
    : defaultConfusionCell(result)
  if (cc) {
    body.push(safeHtml`<h2>Confusion matrices: ${noiseLabel(cc.noiseType, cc.rate)}, ${methodName(cc.method)}, seed ${cc.seed}</h2>`)
    body.push(
      safeHtml`<p>Rows are the true class, columns the label the method gives; blue on the diagonal is right, orange off it is wrong. Each row is shaded by its own total.</p>`,
    )
    const figs: string[] = []
    const model = modelOf(cc.noiseType, cc.rate)
    if (model) figs.push(heatmap('Injected noise (probabilities)', model.matrix, names, 'true class', 'noisy label', true))
    if (cc.confusionTrain) figs.push(heatmap('Training samples after cleaning', cc.confusionTrain, names, 'true class', 'refined label'))
    if (cc.confusionTrusted) figs.push(heatmap('Trusted split', cc.confusionTrusted, names, 'trusted label', 'predicted'))
    body.push(safeHtml`<div class="figs">${figs.map(raw)}</div>`)
  }

  // --- all numbers
  body.push(safeHtml`<h2>All results (mean ± standard deviation over seeds, in %)</h2>`)
  const hasEstimate = result.summary.some((s) => s.mean.estimatedNoiseRate !== undefined)
  const sumRows = result.summary.map((s) => {
    const model = modelOf(s.noiseType, s.rate)
    const key = `${s.noiseType}|${s.rate}|${s.method}`
    const best = result.best.some((b) => b.noiseType === s.noiseType && b.rate === s.rate && b.method === s.method)
    const cell = (m: MetricName) => metricCell(s.mean[m], s.std[m], safeHtml` data-key="${key}" data-metric="${m}"`)
    const secs = s.mean.seconds
    const secsAttr = secs !== undefined ? safeHtml` data-value="${secs}"` : ''
    const identifiable = model ? (model.identifiable ? 'yes' : safeHtml`<strong>no</strong>`) : '–'
    return safeHtml`<tr${model && !model.identifiable ? safeHtml` class="ni"` : ''}><td class="l">${noiseLabel(s.noiseType, s.rate)}</td><td class="l${best ? ' best' : ''}">${methodName(s.method)}</td>${cell('trustedAccuracy')}${cell('recovery')}${cell('flaggedPrecision')}${cell('flaggedRecall')}${cell('flaggedFraction')}${cell('noiseRate')}${hasEstimate ? cell('estimatedNoiseRate') : ''}<td data-key="${key}" data-metric="seconds"${secsAttr}>${secs === undefined ? '–' : secs.toFixed(secs < 10 ? 2 : 1)}</td><td>${s.n}</td><td class="l">${identifiable}</td></tr>`
  })
  const estimateHead = hasEstimate ? safeHtml`<th>Noise estimated (CL)</th>` : ''
  body.push(
    safeHtml`<table class="summary"><thead><tr><th class="l">Noise</th><th class="l">Method</th><th>Trusted accuracy</th><th>Label recovery</th><th>Flag precision</th><th>Flag recall</th><th>Flagged</th><th>Injected noise</th>${estimateHead}<th>Time (s)</th><th>Seeds</th><th class="l">Identifiable</th></tr></thead><tbody>${sumRows}</tbody></table>`,
  )
  body.push(safeHtml`<h3>Every run</h3>`)
  const cellRows = result.cells.map((c) => {
    const cell = (m: MetricName) => metricCell(c.metrics[m], undefined, safeHtml` data-cell="${c.key}" data-metric="${m}"`)
    const chosen = Object.entries(c.chosen)
      .filter(([, v]) => v === null || ['number', 'string', 'boolean'].includes(typeof v))
      .map(([k, v]) => `${k}=${fmtValue(v)}`)
      .join(', ')
    return safeHtml`<tr${c.error ? safeHtml` class="ni"` : ''}><td class="l">${noiseLabel(c.noiseType, c.rate)}</td><td>${c.seed}</td><td class="l">${methodName(c.method)}</td>${cell('trustedAccuracy')}${cell('recovery')}${cell('flaggedPrecision')}${cell('flaggedRecall')}<td>${c.metrics.seconds === undefined ? '–' : c.metrics.seconds.toFixed(2)}</td><td class="l">${c.error ? `failed: ${c.error}` : chosen}</td></tr>`
  })
  body.push(
    safeHtml`<table class="cells"><thead><tr><th class="l">Noise</th><th>Seed</th><th class="l">Method</th><th>Trusted accuracy %</th><th>Label recovery %</th><th>Flag precision %</th><th>Flag recall %</th><th>Time (s)</th><th class="l">Chosen settings / error</th></tr></thead><tbody>${cellRows}</tbody></table>`,
  )

  // --- settings
  body.push(safeHtml`<h2>Settings</h2>`)
  const ro = cfg.refineOptions ?? {}
  const settings: [string, string][] = [
    ['Dataset', result.meta.dataset ?? '–'],
    ['Features (backbone)', result.meta.backbone ?? '–'],
    ['Classes', names.join(', ')],
    ['Training samples', String(result.meta.nTrain)],
    ['Trusted split', `${result.meta.nTrusted} samples${result.meta.trustedSource ? `: ${result.meta.trustedSource}` : ''}`],
    ['Noise types', cfg.noiseTypes.map((t) => NOISE_NAMES[t] ?? t).join(', ')],
    ['Noise rates', cfg.noiseTypes.some((t) => t !== 'none') ? cfg.rates.join(', ') : '–'],
    ['Seeds', cfg.seeds.join(', ')],
    ['Methods', methods.map(methodName).join(', ')],
    [
      'Refinement options',
      Object.keys(ro).length
        ? Object.entries(ro)
            .map(([k, v]) => `${k}=${fmtValue(v)}`)
            .join(', ')
        : 'defaults (automatic selection on the noisy labels)',
    ],
  ]
  if (cfg.review) settings.push(['Review simulation', `batches of ${cfg.review.batch}, up to ${cfg.review.budget} reviews per noise draw`])
  if (result.groups) settings.push(['Superclass groups', result.groups.map((g) => `{${g.map((c) => names[c] ?? c).join(', ')}}`).join(' ')])
  settings.push(['Started / finished', `${result.startedAt} / ${result.finishedAt ?? 'not finished'}`])
  const settingRows = settings.map(([k, v]) => safeHtml`<tr><th class="l">${k}</th><td class="l">${v}</td></tr>`)
  body.push(safeHtml`<table class="settings"><tbody>${settingRows}</tbody></table>`)

  // --- how to read
  body.push(safeHtml`<h2>How to read this report</h2>`)
  body.push(HOW_TO_READ)

  return safeHtml`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="generator" content="${REPORT_GENERATOR}"/>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>${title}</title>
<style>${raw(CSS)}</style>
</head>
<body>
${joinHtml(body, '\n')}
</body>
</html>
`.toString()
}
