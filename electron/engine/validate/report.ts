/**
 * Validation reports: JSON (everything), CSV (one row per noise type x rate x seed x method) and a
 * self-contained HTML page for people who will not open a terminal: no scripts, no external
 * fonts or images, charts drawn here as inline SVG, readable on screen and on paper.
 */
import { formatCsv, type CsvValue } from '../util/csv.ts'
import type { CellResult, MetricName, NoiseModel, SummaryRow, ValidationNoise, ValidationResult } from './validate.ts'

/**
 * Stored results of a validation that failed before its first cell hold only `{ error }`; say
 * that instead of failing on a missing field.
 */
function checkResult(result: ValidationResult): void {
  const r = result as Partial<ValidationResult> & { error?: unknown }
  if (!r || !Array.isArray(r.cells) || !r.config || !Array.isArray(r.classNames) || !r.meta) {
    const why = r && typeof r.error === 'string' ? ` (the validation failed: ${r.error})` : ''
    throw new Error(`not a complete validation result, nothing to report${why}`)
  }
}

/** The whole result as pretty-printed JSON. */
export function toJson(result: ValidationResult): string {
  checkResult(result)
  return JSON.stringify(result, null, 2) + '\n'
}

const CSV_METRICS: [MetricName, string][] = [
  ['trustedAccuracy', 'trusted_accuracy'],
  ['recovery', 'label_recovery'],
  ['givenAccuracy', 'given_label_accuracy'],
  ['noiseRate', 'injected_noise_rate'],
  ['flaggedFraction', 'flagged_fraction'],
  ['flaggedPrecision', 'flagged_precision'],
  ['flaggedRecall', 'flagged_recall'],
  ['estimatedNoiseRate', 'estimated_noise_rate'],
  ['seconds', 'seconds'],
]

/**
 * One row per noise type x rate x seed x method with every metric (fractions in [0, 1], empty
 * where a metric does not apply), identifiability, the chosen hyper-parameters (JSON) and any error.
 */
export function toCsv(result: ValidationResult): string {
  checkResult(result)
  const rows: CsvValue[][] = [['noise_type', 'rate', 'seed', 'method', 'identifiable', ...CSV_METRICS.map(([, h]) => h), 'chosen', 'error']]
  for (const c of result.cells) {
    rows.push([
      c.noiseType,
      c.rate,
      c.seed,
      c.method,
      c.identifiable === null ? '' : c.identifiable,
      ...CSV_METRICS.map(([m]) => c.metrics[m]),
      Object.keys(c.chosen).length ? JSON.stringify(c.chosen) : '',
      c.error ?? '',
    ])
  }
  return formatCsv(rows)
}

// ---------------------------------------------------------------------------------------------
// HTML

export interface HtmlOptions {
  title?: string
  /** Which cell's confusion matrices to show (default: the winning method at the highest
   * identifiable rate of the first injected noise type). */
  confusion?: { noiseType: ValidationNoise; rate: number; method: string; seed?: number }
  /** Shown as the report date (default: the result's finish time, else now). */
  date?: string
}

/** Escapes text for HTML element content and double- or single-quoted attributes. */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}
const esc = escapeHtml

/** Percent with one decimal, as the report prints fractions. */
export function pct(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : (v * 100).toFixed(1)
}
/** A probability with at most two decimals, trailing zeros dropped (0.2667 -> 0.27, 0.20 -> 0.2). */
function prob(v: number): string {
  return String(Number(v.toFixed(2)))
}

const METHOD_NAMES: Record<string, string> = {
  teacher: 'Teacher',
  pll: 'PLL student',
  cl: 'Confident learning',
}
/** Human-readable method name ('sd-2' -> 'SD round 2'). */
export function methodName(m: string): string {
  const sd = /^sd-(\d+)$/.exec(m)
  if (sd) return `SD round ${sd[1]}`
  return METHOD_NAMES[m] ?? m
}
const NOISE_NAMES: Record<string, string> = {
  none: 'labels as given',
  symmetric: 'symmetric',
  asymmetric: 'asymmetric',
  superclass: 'superclass',
}
function noiseLabel(t: string, rate: number): string {
  return t === 'none' ? 'labels as given (no injected noise)' : `${NOISE_NAMES[t] ?? t} ${rate}`
}

// Okabe-Ito palette: distinguishable with the common colour-vision deficiencies; dashes and marker
// shapes keep the lines apart on a grey-scale printout too.
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#8C6D31', '#7F7F7F', '#B22222']
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '4 4', '1 2', '10 4', '3 3 1 3', '', '6 2']

interface Series {
  name: string
  color: string
  dash: string
  marker: number
  points: { x: number; y: number; err?: number }[]
}

function marker(kind: number, x: number, y: number, color: string): string {
  const s = 3.5
  const f = (v: number) => v.toFixed(1)
  switch (kind % 4) {
    case 0:
      return `<circle cx="${f(x)}" cy="${f(y)}" r="${s}" fill="${color}"/>`
    case 1:
      return `<rect x="${f(x - s)}" y="${f(y - s)}" width="${2 * s}" height="${2 * s}" fill="${color}"/>`
    case 2:
      return `<path d="M${f(x)} ${f(y - s - 1)} L${f(x + s + 1)} ${f(y + s)} L${f(x - s - 1)} ${f(y + s)} Z" fill="${color}"/>`
    default:
      return `<path d="M${f(x)} ${f(y - s - 1)} L${f(x + s + 1)} ${f(y)} L${f(x)} ${f(y + s + 1)} L${f(x - s - 1)} ${f(y)} Z" fill="${color}"/>`
  }
}

/**
 * Line chart of y (a fraction, printed in %) against the noise rate, with error bars of one
 * standard deviation over seeds, optional shaded x positions (non-identifiable rates) and an
 * optional dashed reference line.
 */
function lineChart(opts: {
  title: string
  yLabel: string
  series: Series[]
  reference?: { name: string; points: { x: number; y: number }[] }
  shade?: number[]
}): string {
  const W = 560
  const H = 300
  const m = { l: 52, r: 16, t: 30, b: 44 }
  const pw = W - m.l - m.r
  const ph = H - m.t - m.b
  const xs = [...new Set(opts.series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b)
  if (xs.length === 0) return ''
  let ylo = 1
  for (const s of opts.series) for (const p of s.points) ylo = Math.min(ylo, p.y - (p.err ?? 0))
  for (const p of opts.reference?.points ?? []) ylo = Math.min(ylo, p.y)
  ylo = Math.max(0, Math.floor(ylo * 10 - 1e-9) / 10)
  const yhi = 1
  const xlo = xs[0]!
  const xhi = xs[xs.length - 1]!
  const span = xhi - xlo || 1
  const padX = xs.length > 1 ? 0.06 * span : 0.5
  const X = (x: number) => m.l + ((x - (xlo - padX)) / (span + 2 * padX)) * pw
  const Y = (y: number) => m.t + (1 - (y - ylo) / (yhi - ylo)) * ph
  const f = (v: number) => v.toFixed(1)
  const out: string[] = []
  out.push(
    `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(opts.title)}" xmlns="http://www.w3.org/2000/svg">`,
  )
  out.push(`<title>${esc(opts.title)}</title>`)
  out.push(`<text x="${m.l}" y="18" class="ct">${esc(opts.title)}</text>`)
  // shaded non-identifiable rates
  const half = xs.length > 1 ? (X(xs[1]!) - X(xs[0]!)) / 2 : pw / 4
  for (const x of opts.shade ?? []) {
    out.push(`<rect x="${f(X(x) - Math.min(half, 30))}" y="${m.t}" width="${f(2 * Math.min(half, 30))}" height="${ph}" class="shade"/>`)
    out.push(`<text x="${f(X(x))}" y="${m.t + 11}" class="shadet" text-anchor="middle">not identifiable</text>`)
  }
  // grid and y ticks
  const step = yhi - ylo > 0.5 ? 0.2 : 0.1
  for (let t = Math.ceil(ylo / step - 1e-9) * step; t <= yhi + 1e-9; t += step) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${f(Y(t))}" y2="${f(Y(t))}" class="grid"/>`)
    out.push(`<text x="${m.l - 6}" y="${f(Y(t) + 4)}" text-anchor="end" class="tick">${Math.round(t * 100)}%</text>`)
  }
  for (const x of xs) {
    out.push(`<line x1="${f(X(x))}" x2="${f(X(x))}" y1="${m.t + ph}" y2="${m.t + ph + 4}" class="axis"/>`)
    out.push(`<text x="${f(X(x))}" y="${m.t + ph + 16}" text-anchor="middle" class="tick">${esc(x)}</text>`)
  }
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" class="axis"/>`)
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" class="axis"/>`)
  out.push(`<text x="${m.l + pw / 2}" y="${H - 6}" text-anchor="middle" class="al">noise rate</text>`)
  out.push(`<text transform="translate(13 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" class="al">${esc(opts.yLabel)}</text>`)
  if (opts.reference) {
    const d = opts.reference.points.map((p, i) => `${i ? 'L' : 'M'}${f(X(p.x))} ${f(Y(p.y))}`).join(' ')
    out.push(`<path d="${d}" class="ref"/>`)
  }
  for (const s of opts.series) {
    const pts = [...s.points].sort((a, b) => a.x - b.x)
    if (pts.length > 1) {
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${f(X(p.x))} ${f(Y(p.y))}`).join(' ')
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    }
    for (const p of pts) {
      if (p.err && p.err > 0) {
        const y1 = Y(Math.min(yhi, p.y + p.err))
        const y2 = Y(Math.max(ylo, p.y - p.err))
        const x = X(p.x)
        out.push(
          `<path d="M${f(x)} ${f(y1)} L${f(x)} ${f(y2)} M${f(x - 4)} ${f(y1)} L${f(x + 4)} ${f(y1)} M${f(x - 4)} ${f(y2)} L${f(x + 4)} ${f(y2)}" stroke="${s.color}" stroke-width="1.2" fill="none"/>`,
        )
      }
      out.push(marker(s.marker, X(p.x), Y(p.y), s.color))
    }
  }
  out.push('</svg>')
  // The legend is HTML, so long class or method names wrap instead of overflowing the chart.
  const legend = opts.series
    .map(
      (s) =>
        `<span class="lg"><svg width="34" height="12" aria-hidden="true"><line x1="1" x2="33" y1="6" y2="6" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>${marker(s.marker, 17, 6, s.color)}</svg>${esc(s.name)}</span>`,
    )
    .concat(
      opts.reference
        ? [
            `<span class="lg"><svg width="34" height="12" aria-hidden="true"><line x1="1" x2="33" y1="6" y2="6" class="ref"/></svg>${esc(opts.reference.name)}</span>`,
          ]
        : [],
    )
    .join(' ')
  return `<figure class="fig">${out.join('')}<figcaption>${legend}</figcaption></figure>`
}

/** Horizontal bars (one per method) for settings with a single rate, e.g. labels as given. */
function barChart(title: string, bars: { name: string; color: string; y: number; err?: number }[]): string {
  const W = 560
  const rowH = 26
  const m = { l: 150, r: 60, t: 30, b: 24 }
  const H = m.t + m.b + rowH * bars.length
  const pw = W - m.l - m.r
  const f = (v: number) => v.toFixed(1)
  const out: string[] = [
    `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg">`,
    `<title>${esc(title)}</title>`,
    `<text x="${m.l}" y="18" class="ct">${esc(title)}</text>`,
  ]
  for (let t = 0; t <= 1.0001; t += 0.2) {
    const x = m.l + t * pw
    out.push(`<line x1="${f(x)}" x2="${f(x)}" y1="${m.t}" y2="${H - m.b}" class="grid"/>`)
    out.push(`<text x="${f(x)}" y="${H - m.b + 14}" text-anchor="middle" class="tick">${Math.round(t * 100)}%</text>`)
  }
  bars.forEach((b, i) => {
    const y = m.t + i * rowH
    out.push(`<text x="${m.l - 6}" y="${y + rowH / 2 + 4}" text-anchor="end" class="tick">${esc(b.name)}</text>`)
    out.push(`<rect x="${m.l}" y="${y + 4}" width="${f(b.y * pw)}" height="${rowH - 8}" fill="${b.color}"/>`)
    if (b.err && b.err > 0) {
      const x1 = m.l + Math.max(0, b.y - b.err) * pw
      const x2 = m.l + Math.min(1, b.y + b.err) * pw
      out.push(`<path d="M${f(x1)} ${y + rowH / 2} L${f(x2)} ${y + rowH / 2}" stroke="#000" stroke-width="1.2"/>`)
    }
    out.push(`<text x="${f(m.l + b.y * pw + 6)}" y="${y + rowH / 2 + 4}" class="tick">${pct(b.y)}%</text>`)
  })
  out.push('</svg>')
  return `<figure class="fig">${out.join('')}</figure>`
}

/** K x K heatmap; each row is shaded by its own total so rare classes stay readable. */
function heatmap(title: string, m: number[][], names: string[], rowLabel: string, colLabel: string, asProb = false): string {
  const k = m.length
  const cell = k <= 6 ? 40 : k <= 12 ? 30 : 18
  const labW = 110
  const top = 110
  const W = labW + cell * k + 10
  const H = top + cell * k + 30
  const f = (v: number) => v.toFixed(1)
  const short = (s: string) => (s.length > 16 ? `${s.slice(0, 15)}…` : s)
  const out: string[] = [
    `<svg class="heat" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}" xmlns="http://www.w3.org/2000/svg">`,
    `<title>${esc(title)}</title>`,
    `<text x="4" y="14" class="ct">${esc(title)}</text>`,
    `<text x="${labW + (cell * k) / 2}" y="32" text-anchor="middle" class="al">${esc(colLabel)} →</text>`,
    `<text transform="translate(10 ${top + (cell * k) / 2}) rotate(-90)" text-anchor="middle" class="al">${esc(rowLabel)} →</text>`,
  ]
  for (let j = 0; j < k; j++) {
    const x = labW + j * cell + cell / 2
    out.push(`<text transform="translate(${f(x + 4)} ${top - 6}) rotate(-60)" class="tick">${esc(short(names[j] ?? String(j)))}</text>`)
  }
  for (let i = 0; i < k; i++) {
    const row = m[i]!
    const tot = row.reduce((a, b) => a + b, 0)
    out.push(
      `<text x="${labW - 6}" y="${f(top + i * cell + cell / 2 + 4)}" text-anchor="end" class="tick">${esc(short(names[i] ?? String(i)))}</text>`,
    )
    for (let j = 0; j < k; j++) {
      const v = row[j]!
      const share = tot > 0 ? v / tot : 0
      // White to blue on the diagonal, white to vermillion off it: right and wrong read apart.
      const [r, g, b] = i === j ? [0, 114, 178] : [213, 94, 0]
      const mix = (c: number) => Math.round(255 + (c - 255) * Math.sqrt(share))
      const fill = `rgb(${mix(r)},${mix(g)},${mix(b)})`
      const x = labW + j * cell
      const y = top + i * cell
      const label = asProb ? (v === 0 ? '' : prob(v)) : String(v)
      out.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" class="hc"><title>${esc(`${names[i]} → ${names[j]}: ${label || 0}`)}</title></rect>`,
      )
      if (k <= 12 && label) {
        out.push(
          `<text x="${f(x + cell / 2)}" y="${f(y + cell / 2 + 4)}" text-anchor="middle" class="hv${share > 0.5 ? ' inv' : ''}">${esc(label)}</text>`,
        )
      }
    }
  }
  out.push('</svg>')
  return `<figure class="fig">${out.join('')}</figure>`
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

function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))
  if (typeof v === 'string') return v
  return JSON.stringify(v)
}

function metricCell(v: number | undefined, sd: number | undefined, attrs: string): string {
  if (v === undefined) return `<td${attrs}>–</td>`
  const spread = sd !== undefined && sd > 0 ? ` ± ${pct(sd)}` : ''
  return `<td${attrs} data-value="${v}">${pct(v)}${spread}</td>`
}

/**
 * The report as one self-contained HTML page: summary and plain-language warnings first, then
 * charts, confusion matrices, every number, the settings and how to read them. All user text
 * (class names, titles, metadata) is escaped.
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
  const body: string[] = []

  body.push(`<h1>${esc(title)}</h1>`)
  const metaBits = [
    `Date: ${esc(date.slice(0, 16).replace('T', ' '))} UTC`,
    result.meta.dataset ? `Dataset: ${esc(result.meta.dataset)}` : '',
    result.meta.backbone ? `Features: ${esc(result.meta.backbone)}` : '',
    `${result.meta.nTrain} training samples, ${result.meta.nTrusted} trusted samples, ${names.length} classes`,
  ].filter(Boolean)
  body.push(`<p class="sub">${metaBits.join(' · ')}</p>`)
  if (!result.complete) {
    body.push(
      `<div class="callout"><p><strong>Incomplete sweep.</strong> ${result.cells.length} cells finished; the run was stopped before the end. The numbers below cover the finished cells only.</p></div>`,
    )
  }

  // --- at a glance
  body.push('<h2>At a glance</h2>')
  body.push(
    `<p>Each method relabels the training samples from their features and the (noisy) labels alone; it is then scored on the <strong>trusted split</strong> (${esc(result.meta.trustedSource ?? 'held-out samples with correct labels')}), which no method ever trains on or uses for a choice.</p>`,
  )
  const notes = result.noiseModels.flatMap((m) => identifiabilityNotes(m, names, result.groups))
  if (notes.length) {
    body.push(
      `<div class="callout"><p><strong>Noise that cannot be undone.</strong> Label cleaning works by letting the majority label among similar samples out-vote the wrong ones. Where a wrong label is at least as common as the right one, the majority is wrong, and low numbers there say nothing about the method:</p>${notes.map((n) => `<p>${esc(n)}</p>`).join('')}</div>`,
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
      const delta =
        teacher && b.method !== 'teacher' && teacher.mean.trustedAccuracy !== undefined
          ? `${(b.trustedAccuracy - teacher.mean.trustedAccuracy) * 100 >= 0 ? '+' : ''}${((b.trustedAccuracy - teacher.mean.trustedAccuracy) * 100).toFixed(1)} points`
          : b.method === 'teacher'
            ? 'the teacher itself'
            : '–'
      return `<tr${model && !model.identifiable ? ' class="ni"' : ''}><td class="l">${esc(noiseLabel(b.noiseType, b.rate))}${model && !model.identifiable ? ' (not identifiable)' : ''}</td><td class="l best">${esc(methodName(b.method))}${clear ? '' : `<span class="tie"> (tie with ${esc(methodName(runnerUp!.method))}: within the seeds' spread)</span>`}</td><td>${pct(b.trustedAccuracy)}</td><td>${esc(delta)}</td><td>${pct(bestRow.mean.givenAccuracy)}</td><td>${pct(bestRow.mean.recovery)}</td></tr>`
    })
    body.push(
      `<table class="glance"><thead><tr><th class="l">Noise</th><th class="l">Best method</th><th>Trusted accuracy %</th><th>vs teacher</th><th>Training labels correct before %</th><th>after %</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
    )
    const wins = new Map<string, number>()
    for (const b of result.best) wins.set(b.method, (wins.get(b.method) ?? 0) + 1)
    const ranked = [...wins.entries()].sort((a, b) => b[1] - a[1])
    body.push(
      `<p>${ranked.map(([m, n]) => `${esc(methodName(m))} wins ${n} of ${result.best.length} settings`).join('; ')}. Differences smaller than the spread over seeds (± in the tables) are not meaningful.</p>`,
    )
  }
  for (const s of result.summary) {
    if (s.noiseType !== 'none' || s.mean.estimatedNoiseRate === undefined) continue
    const known = s.mean.noiseRate !== undefined ? ` (the true share is ${pct(s.mean.noiseRate)}%)` : ''
    body.push(
      `<p>Confident learning estimates that <strong>${pct(s.mean.estimatedNoiseRate)}%</strong> of the given training labels are wrong${known}.</p>`,
    )
  }
  const failed = result.cells.filter((c) => c.error)
  if (failed.length) {
    body.push(
      `<div class="callout"><p><strong>${failed.length} cell(s) failed</strong> and are left out of the averages:</p>${failed
        .slice(0, 20)
        .map((c) => `<p>${esc(`${noiseLabel(c.noiseType, c.rate)}, seed ${c.seed}, ${methodName(c.method)}: ${c.error}`)}</p>`)
        .join('')}</div>`,
    )
  }

  // --- charts
  body.push('<h2>Accuracy and label recovery</h2>')
  for (const t of cfg.noiseTypes) {
    const rows = result.summary.filter((s) => s.noiseType === t)
    if (rows.length === 0) continue
    body.push(`<h3>${esc(t === 'none' ? 'Labels as given (no injected noise)' : `${NOISE_NAMES[t] ?? t} noise`)}</h3>`)
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
    body.push(`<div class="figs">${figs.join('')}</div>`)
  }
  const nSeeds = Math.max(0, ...result.summary.map((s) => s.n))
  body.push(
    `<p class="muted">Points are means over ${nSeeds === 1 ? 'one seed' : `${nSeeds} seeds`}; bars show ± one standard deviation over seeds.</p>`,
  )

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
    body.push(`<h2>Confusion matrices: ${esc(noiseLabel(cc.noiseType, cc.rate))}, ${esc(methodName(cc.method))}, seed ${cc.seed}</h2>`)
    body.push(
      '<p>Rows are the true class, columns the label the method gives; blue on the diagonal is right, orange off it is wrong. Each row is shaded by its own total.</p>',
    )
    const figs: string[] = []
    const model = modelOf(cc.noiseType, cc.rate)
    if (model) figs.push(heatmap('Injected noise (probabilities)', model.matrix, names, 'true class', 'noisy label', true))
    if (cc.confusionTrain) figs.push(heatmap('Training samples after cleaning', cc.confusionTrain, names, 'true class', 'refined label'))
    if (cc.confusionTrusted) figs.push(heatmap('Trusted split', cc.confusionTrusted, names, 'trusted label', 'predicted'))
    body.push(`<div class="figs">${figs.join('')}</div>`)
  }

  // --- all numbers
  body.push('<h2>All results (mean ± standard deviation over seeds, in %)</h2>')
  const hasEstimate = result.summary.some((s) => s.mean.estimatedNoiseRate !== undefined)
  const sumRows = result.summary.map((s) => {
    const model = modelOf(s.noiseType, s.rate)
    const key = `${s.noiseType}|${s.rate}|${s.method}`
    const best = result.best.some((b) => b.noiseType === s.noiseType && b.rate === s.rate && b.method === s.method)
    const cell = (m: MetricName) => metricCell(s.mean[m], s.std[m], ` data-key="${esc(key)}" data-metric="${m}"`)
    const secs = s.mean.seconds
    return `<tr${model && !model.identifiable ? ' class="ni"' : ''}><td class="l">${esc(noiseLabel(s.noiseType, s.rate))}</td><td class="l${best ? ' best' : ''}">${esc(methodName(s.method))}</td>${cell('trustedAccuracy')}${cell('recovery')}${cell('flaggedPrecision')}${cell('flaggedRecall')}${cell('flaggedFraction')}${cell('noiseRate')}${hasEstimate ? cell('estimatedNoiseRate') : ''}<td data-key="${esc(key)}" data-metric="seconds"${secs !== undefined ? ` data-value="${secs}"` : ''}>${secs === undefined ? '–' : secs.toFixed(secs < 10 ? 2 : 1)}</td><td>${s.n}</td><td class="l">${model ? (model.identifiable ? 'yes' : '<strong>no</strong>') : '–'}</td></tr>`
  })
  body.push(
    `<table class="summary"><thead><tr><th class="l">Noise</th><th class="l">Method</th><th>Trusted accuracy</th><th>Label recovery</th><th>Flag precision</th><th>Flag recall</th><th>Flagged</th><th>Injected noise</th>${hasEstimate ? '<th>Noise estimated (CL)</th>' : ''}<th>Time (s)</th><th>Seeds</th><th class="l">Identifiable</th></tr></thead><tbody>${sumRows.join('')}</tbody></table>`,
  )
  body.push('<h3>Every run</h3>')
  const cellRows = result.cells.map((c) => {
    const key = c.key
    const cell = (m: MetricName) => metricCell(c.metrics[m], undefined, ` data-cell="${esc(key)}" data-metric="${m}"`)
    const chosen = Object.entries(c.chosen)
      .filter(([, v]) => v === null || ['number', 'string', 'boolean'].includes(typeof v))
      .map(([k, v]) => `${k}=${fmtValue(v)}`)
      .join(', ')
    return `<tr${c.error ? ' class="ni"' : ''}><td class="l">${esc(noiseLabel(c.noiseType, c.rate))}</td><td>${c.seed}</td><td class="l">${esc(methodName(c.method))}</td>${cell('trustedAccuracy')}${cell('recovery')}${cell('flaggedPrecision')}${cell('flaggedRecall')}<td>${c.metrics.seconds === undefined ? '–' : c.metrics.seconds.toFixed(2)}</td><td class="l">${esc(c.error ? `failed: ${c.error}` : chosen)}</td></tr>`
  })
  body.push(
    `<table class="cells"><thead><tr><th class="l">Noise</th><th>Seed</th><th class="l">Method</th><th>Trusted accuracy %</th><th>Label recovery %</th><th>Flag precision %</th><th>Flag recall %</th><th>Time (s)</th><th class="l">Chosen settings / error</th></tr></thead><tbody>${cellRows.join('')}</tbody></table>`,
  )

  // --- settings
  body.push('<h2>Settings</h2>')
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
  if (result.groups) settings.push(['Superclass groups', result.groups.map((g) => `{${g.map((c) => names[c] ?? c).join(', ')}}`).join(' ')])
  settings.push(['Started / finished', `${result.startedAt} / ${result.finishedAt ?? 'not finished'}`])
  body.push(
    `<table class="settings"><tbody>${settings.map(([k, v]) => `<tr><th class="l">${esc(k)}</th><td class="l">${esc(v)}</td></tr>`).join('')}</tbody></table>`,
  )

  // --- how to read
  body.push('<h2>How to read this report</h2>')
  body.push(`<dl class="defs">
<dt>Trusted accuracy</dt><dd>Share of the trusted samples the trained model classifies correctly. The trusted split is never trained on.</dd>
<dt>Label recovery</dt><dd>Share of training samples whose cleaned label equals the true label (known only when the noise was injected on purpose).</dd>
<dt>Flag precision / recall</dt><dd>A sample is flagged when the cleaned label differs from the label it was given. Precision: of the flagged samples, the share whose given label was really wrong. Recall: of the really wrong labels, the share that got flagged.</dd>
<dt>Injected noise</dt><dd>Share of training labels actually changed by the noise draw.</dd>
<dt>Noise estimated (CL)</dt><dd>Confident learning's own estimate, from the labels and features alone, of the share of wrong labels; on your real labels (no injected noise) it is the best available guess of how noisy they are.</dd>
<dt>Noise types</dt><dd>Symmetric: a wrong label is drawn uniformly from the other classes. Asymmetric: extra weight on one "next" class. Superclass: labels are only swapped inside groups of look-alike classes, found by clustering how similar the classes' features are.</dd>
<dt>Identifiable</dt><dd>Whether, for every class, the right label stays more likely than any single wrong label. If not, the wrong label is the majority and no cleaning method can tell.</dd>
<dt>Methods</dt><dd>Teacher: a linear classifier trained on the given labels. SD round t: t rounds of self-distillation, each trained on the previous round's outputs. PLL student: one student trained on the teacher's top two classes. Confident learning: flags labels the model confidently disagrees with.</dd>
</dl>`)

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`
}
