/**
 * The report's chart kit: pure functions from numbers to inline SVG (wrapped in a <figure>), with
 * no scripts and no external resources. Every label passes through the escaping `safeHtml`
 * template; the result is a string of finished markup.
 */
import { pct, prob } from './format.ts'
import { safeHtml, joinHtml, type SafeHtml } from './template.ts'

// Okabe-Ito palette: distinguishable with the common colour-vision deficiencies; dashes and marker
// shapes keep the lines apart on a grey-scale printout too.
export const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#8C6D31', '#7F7F7F', '#B22222']
export const DASHES = ['', '6 3', '2 3', '8 3 2 3', '4 4', '1 2', '10 4', '3 3 1 3', '', '6 2']

export interface Series {
  name: string
  color: string
  dash: string
  marker: number
  points: { x: number; y: number; err?: number }[]
}

const f = (v: number) => v.toFixed(1)

function marker(kind: number, x: number, y: number, color: string): SafeHtml {
  const s = 3.5
  switch (kind % 4) {
    case 0:
      return safeHtml`<circle cx="${f(x)}" cy="${f(y)}" r="${s}" fill="${color}"/>`
    case 1:
      return safeHtml`<rect x="${f(x - s)}" y="${f(y - s)}" width="${2 * s}" height="${2 * s}" fill="${color}"/>`
    case 2:
      return safeHtml`<path d="M${f(x)} ${f(y - s - 1)} L${f(x + s + 1)} ${f(y + s)} L${f(x - s - 1)} ${f(y + s)} Z" fill="${color}"/>`
    default:
      return safeHtml`<path d="M${f(x)} ${f(y - s - 1)} L${f(x + s + 1)} ${f(y)} L${f(x)} ${f(y + s + 1)} L${f(x - s - 1)} ${f(y)} Z" fill="${color}"/>`
  }
}

const dashAttr = (dash: string) => (dash ? safeHtml` stroke-dasharray="${dash}"` : '')

function svgOpen(cls: string, W: number, H: number, title: string): SafeHtml {
  return safeHtml`<svg class="${cls}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${title}" xmlns="http://www.w3.org/2000/svg">`
}

/**
 * Line chart of y (a fraction, printed in %) against the noise rate, with error bars of one
 * standard deviation over seeds, optional shaded x positions (non-identifiable rates) and an
 * optional dashed reference line.
 */
export function lineChart(opts: {
  title: string
  yLabel: string
  series: Series[]
  reference?: { name: string; points: { x: number; y: number }[] }
  shade?: number[]
  /** x axis label (default 'noise rate'). */
  xLabel?: string
  /** Where x ticks go (default every x of the data). */
  xTicks?: number[]
  /** Fit the y axis to the data (with a margin) instead of running it up to 100%, for small differences. */
  fitY?: boolean
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
  let yhi = 1
  let step: number
  if (opts.fitY) {
    let top = 0
    for (const s of opts.series) for (const p of s.points) top = Math.max(top, p.y + (p.err ?? 0))
    const raw = Math.max(top - ylo, 0.002)
    step = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2].find((v) => raw / v <= 6) ?? 0.2
    ylo = Math.max(0, Math.floor(ylo / step - 1e-9) * step)
    yhi = Math.min(1, Math.ceil(top / step + 1e-9) * step)
    if (yhi <= ylo) yhi = Math.min(1, ylo + step)
  } else {
    ylo = Math.max(0, Math.floor(ylo * 10 - 1e-9) / 10)
    step = yhi - ylo > 0.5 ? 0.2 : 0.1
  }
  const xlo = xs[0]!
  const xhi = xs[xs.length - 1]!
  const span = xhi - xlo || 1
  const padX = xs.length > 1 ? 0.06 * span : 0.5
  const X = (x: number) => m.l + ((x - (xlo - padX)) / (span + 2 * padX)) * pw
  const Y = (y: number) => m.t + (1 - (y - ylo) / (yhi - ylo)) * ph
  const out: SafeHtml[] = []
  out.push(svgOpen('chart', W, H, opts.title))
  out.push(safeHtml`<title>${opts.title}</title>`)
  out.push(safeHtml`<text x="${m.l}" y="18" class="ct">${opts.title}</text>`)
  // shaded non-identifiable rates
  const half = xs.length > 1 ? (X(xs[1]!) - X(xs[0]!)) / 2 : pw / 4
  for (const x of opts.shade ?? []) {
    out.push(safeHtml`<rect x="${f(X(x) - Math.min(half, 30))}" y="${m.t}" width="${f(2 * Math.min(half, 30))}" height="${ph}" class="shade"/>`)
    out.push(safeHtml`<text x="${f(X(x))}" y="${m.t + 11}" class="shadet" text-anchor="middle">not identifiable</text>`)
  }
  // grid and y ticks
  const tickText = (t: number) => (step < 0.01 ? `${Number((t * 100).toFixed(1))}%` : `${Math.round(t * 100)}%`)
  for (let t = Math.ceil(ylo / step - 1e-9) * step; t <= yhi + 1e-9; t += step) {
    out.push(safeHtml`<line x1="${m.l}" x2="${m.l + pw}" y1="${f(Y(t))}" y2="${f(Y(t))}" class="grid"/>`)
    out.push(safeHtml`<text x="${m.l - 6}" y="${f(Y(t) + 4)}" text-anchor="end" class="tick">${tickText(t)}</text>`)
  }
  for (const x of opts.xTicks ?? xs) {
    out.push(safeHtml`<line x1="${f(X(x))}" x2="${f(X(x))}" y1="${m.t + ph}" y2="${m.t + ph + 4}" class="axis"/>`)
    out.push(safeHtml`<text x="${f(X(x))}" y="${m.t + ph + 16}" text-anchor="middle" class="tick">${x}</text>`)
  }
  out.push(safeHtml`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" class="axis"/>`)
  out.push(safeHtml`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" class="axis"/>`)
  out.push(safeHtml`<text x="${m.l + pw / 2}" y="${H - 6}" text-anchor="middle" class="al">${opts.xLabel ?? 'noise rate'}</text>`)
  out.push(safeHtml`<text transform="translate(13 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" class="al">${opts.yLabel}</text>`)
  if (opts.reference) {
    const d = opts.reference.points.map((p, i) => `${i ? 'L' : 'M'}${f(X(p.x))} ${f(Y(p.y))}`).join(' ')
    out.push(safeHtml`<path d="${d}" class="ref"/>`)
  }
  for (const s of opts.series) {
    const pts = [...s.points].sort((a, b) => a.x - b.x)
    if (pts.length > 1) {
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${f(X(p.x))} ${f(Y(p.y))}`).join(' ')
      out.push(safeHtml`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dashAttr(s.dash)}/>`)
    }
    for (const p of pts) {
      if (p.err && p.err > 0) {
        const y1 = Y(Math.min(yhi, p.y + p.err))
        const y2 = Y(Math.max(ylo, p.y - p.err))
        const x = X(p.x)
        out.push(
          safeHtml`<path d="M${f(x)} ${f(y1)} L${f(x)} ${f(y2)} M${f(x - 4)} ${f(y1)} L${f(x + 4)} ${f(y1)} M${f(x - 4)} ${f(y2)} L${f(x + 4)} ${f(y2)}" stroke="${s.color}" stroke-width="1.2" fill="none"/>`,
        )
      }
      out.push(marker(s.marker, X(p.x), Y(p.y), s.color))
    }
  }
  out.push(safeHtml`</svg>`)
  // The legend is HTML, so long class or method names wrap instead of overflowing the chart.
  const legend = opts.series
    .map(
      (s) =>
        safeHtml`<span class="lg"><svg width="34" height="12" aria-hidden="true"><line x1="1" x2="33" y1="6" y2="6" stroke="${s.color}" stroke-width="2"${dashAttr(s.dash)}/>${marker(s.marker, 17, 6, s.color)}</svg>${s.name}</span>`,
    )
    .concat(
      opts.reference
        ? [
            safeHtml`<span class="lg"><svg width="34" height="12" aria-hidden="true"><line x1="1" x2="33" y1="6" y2="6" class="ref"/></svg>${opts.reference.name}</span>`,
          ]
        : [],
    )
  return safeHtml`<figure class="fig">${out}<figcaption>${joinHtml(legend, ' ')}</figcaption></figure>`.toString()
}

/** Horizontal bars (one per method) for settings with a single rate, e.g. labels as given. */
export function barChart(title: string, bars: { name: string; color: string; y: number; err?: number }[]): string {
  const W = 560
  const rowH = 26
  const m = { l: 150, r: 60, t: 30, b: 24 }
  const H = m.t + m.b + rowH * bars.length
  const pw = W - m.l - m.r
  const out: SafeHtml[] = [
    svgOpen('chart', W, H, title),
    safeHtml`<title>${title}</title>`,
    safeHtml`<text x="${m.l}" y="18" class="ct">${title}</text>`,
  ]
  for (let t = 0; t <= 1.0001; t += 0.2) {
    const x = m.l + t * pw
    out.push(safeHtml`<line x1="${f(x)}" x2="${f(x)}" y1="${m.t}" y2="${H - m.b}" class="grid"/>`)
    out.push(safeHtml`<text x="${f(x)}" y="${H - m.b + 14}" text-anchor="middle" class="tick">${Math.round(t * 100)}%</text>`)
  }
  bars.forEach((b, i) => {
    const y = m.t + i * rowH
    out.push(safeHtml`<text x="${m.l - 6}" y="${y + rowH / 2 + 4}" text-anchor="end" class="tick">${b.name}</text>`)
    out.push(safeHtml`<rect x="${m.l}" y="${y + 4}" width="${f(b.y * pw)}" height="${rowH - 8}" fill="${b.color}"/>`)
    if (b.err && b.err > 0) {
      const x1 = m.l + Math.max(0, b.y - b.err) * pw
      const x2 = m.l + Math.min(1, b.y + b.err) * pw
      out.push(safeHtml`<path d="M${f(x1)} ${y + rowH / 2} L${f(x2)} ${y + rowH / 2}" stroke="#000" stroke-width="1.2"/>`)
    }
    out.push(safeHtml`<text x="${f(m.l + b.y * pw + 6)}" y="${y + rowH / 2 + 4}" class="tick">${pct(b.y)}%</text>`)
  })
  out.push(safeHtml`</svg>`)
  return safeHtml`<figure class="fig">${out}</figure>`.toString()
}

/** K x K heatmap; each row is shaded by its own total so rare classes stay readable. */
export function heatmap(title: string, m: number[][], names: string[], rowLabel: string, colLabel: string, asProb = false): string {
  const k = m.length
  const cell = k <= 6 ? 40 : k <= 12 ? 30 : 18
  const labW = 110
  const top = 110
  const W = labW + cell * k + 10
  const H = top + cell * k + 30
  const short = (s: string) => (s.length > 16 ? `${s.slice(0, 15)}…` : s)
  const out: SafeHtml[] = [
    svgOpen('heat', W, H, title),
    safeHtml`<title>${title}</title>`,
    safeHtml`<text x="4" y="14" class="ct">${title}</text>`,
    safeHtml`<text x="${labW + (cell * k) / 2}" y="32" text-anchor="middle" class="al">${colLabel} →</text>`,
    safeHtml`<text transform="translate(10 ${top + (cell * k) / 2}) rotate(-90)" text-anchor="middle" class="al">${rowLabel} →</text>`,
  ]
  for (let j = 0; j < k; j++) {
    const x = labW + j * cell + cell / 2
    out.push(safeHtml`<text transform="translate(${f(x + 4)} ${top - 6}) rotate(-60)" class="tick">${short(names[j] ?? String(j))}</text>`)
  }
  for (let i = 0; i < k; i++) {
    const row = m[i]!
    const tot = row.reduce((a, b) => a + b, 0)
    out.push(
      safeHtml`<text x="${labW - 6}" y="${f(top + i * cell + cell / 2 + 4)}" text-anchor="end" class="tick">${short(names[i] ?? String(i))}</text>`,
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
        safeHtml`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" class="hc"><title>${`${names[i]} → ${names[j]}: ${label || 0}`}</title></rect>`,
      )
      if (k <= 12 && label) {
        out.push(
          safeHtml`<text x="${f(x + cell / 2)}" y="${f(y + cell / 2 + 4)}" text-anchor="middle" class="hv${share > 0.5 ? ' inv' : ''}">${label}</text>`,
        )
      }
    }
  }
  out.push(safeHtml`</svg>`)
  return safeHtml`<figure class="fig">${out}</figure>`.toString()
}
