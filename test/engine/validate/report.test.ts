import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCsv } from '../../../electron/engine/util/csv.ts'
import { runValidation, type ValidationResult } from '../../../electron/engine/validate/validate.ts'
import { identifiabilityNotes, pct, toCsv, toHtml, toJson } from '../../../electron/engine/validate/report.ts'
import { classIdentifiability, transitionMatrix } from '../../../electron/engine/validate/noise.ts'
import { gaussianClusters, standInRefine } from './helpers.ts'

const NAMES = ['<script>alert(1)</script>', 'dent & "scratch"', "stain's", 'ok']

async function sweep(): Promise<ValidationResult> {
  const tr = gaussianClusters(240, 4, 5, 21)
  const te = gaussianClusters(120, 4, 5, 22, tr.centres)
  return runValidation(
    { train: { x: tr.x, yGiven: tr.y }, trusted: { x: te.x, y: te.y }, classNames: NAMES, meta: { dataset: 'line <3> & co', backbone: 'emb' } },
    {
      noiseTypes: ['symmetric', 'superclass'],
      rates: [0.2, 0.8],
      seeds: [0, 1],
      methods: ['teacher', 'sd', 'pll'],
      sdRounds: 2,
      groups: [[0, 1, 2], [3]],
    },
    { refine: standInRefine },
  )
}

const VOID = new Set(['meta', 'br', 'hr', 'img', 'input', 'link', 'col', 'wbr'])

/** Minimal well-formedness check: every non-void tag closes in order; no raw '<' left in text. */
function checkWellFormed(html: string): void {
  const noStyle = html.replace(/<style>[\s\S]*?<\/style>/g, '<style></style>').replace(/^<!DOCTYPE html>/, '')
  const stack: string[] = []
  const tagRe = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g
  let last = 0
  for (let m = tagRe.exec(noStyle); m; m = tagRe.exec(noStyle)) {
    const text = noStyle.slice(last, m.index)
    assert.ok(!/[<>]/.test(text), `raw < or > in text: ${JSON.stringify(text.slice(0, 80))}`)
    last = tagRe.lastIndex
    const [, close, name, , self] = m
    const tag = name!.toLowerCase()
    if (close) {
      assert.equal(stack.pop(), tag, `</${tag}> closes the wrong element`)
    } else if (!self && !VOID.has(tag)) {
      stack.push(tag)
    }
  }
  assert.ok(!/[<>]/.test(noStyle.slice(last)), 'stray markup after the last tag')
  assert.deepEqual(stack, [], 'unclosed elements')
}

const unescape = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')

test('HTML report is well-formed, self-contained and escapes class names', async () => {
  const r = await sweep()
  const html = toHtml(r, { title: 'PoC <b>line 3</b>' })
  checkWellFormed(html)
  assert.ok(!/<script/i.test(html), 'a <script> element got through')
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'))
  assert.ok(html.includes('dent &amp; &quot;scratch&quot;'))
  assert.ok(html.includes('<title>PoC &lt;b&gt;line 3&lt;/b&gt;</title>'))
  assert.ok(html.includes('line &lt;3&gt; &amp; co'))
  // nothing loaded from elsewhere (the SVG namespace is a name, not a fetch)
  const urls = html.match(/https?:\/\/[^\s"')]+/g) ?? []
  assert.deepEqual([...new Set(urls)], ['http://www.w3.org/2000/svg'])
  assert.ok(!/\s(src|href)=/i.test(html))
  assert.ok(!/@import|url\(/i.test(html))
  // charts: one accuracy and one recovery chart per noise type, and confusion heatmaps
  assert.equal(html.match(/<svg class="chart"/g)!.length, 4)
  assert.ok(html.match(/<svg class="heat"/g)!.length >= 2)
})

test('numbers in the HTML tables equal the result', async () => {
  const r = await sweep()
  const html = toHtml(r)
  const sumRe = /<td data-key="([^"]+)" data-metric="(\w+)" data-value="([^"]+)">([^<]*)<\/td>/g
  let n = 0
  for (let m = sumRe.exec(html); m; m = sumRe.exec(html)) {
    const [, key, metric, value, text] = m
    const [type, rate, method] = unescape(key!).split('|')
    const row = r.summary.find((s) => s.noiseType === type && String(s.rate) === rate && s.method === method)!
    const mean = row.mean[metric as 'trustedAccuracy']!
    assert.equal(Number(value), mean)
    if (metric !== 'seconds') {
      const sd = row.std[metric as 'trustedAccuracy']!
      assert.equal(text, sd > 0 ? `${pct(mean)} ± ${pct(sd)}` : pct(mean))
    }
    n++
  }
  assert.ok(n >= r.summary.length * 5, `only ${n} summary numbers found`)
  const cellRe = /<td data-cell="([^"]+)" data-metric="(\w+)" data-value="([^"]+)">([^<]*)<\/td>/g
  let c = 0
  for (let m = cellRe.exec(html); m; m = cellRe.exec(html)) {
    const [, key, metric, value, text] = m
    const cell = r.cells.find((x) => x.key === unescape(key!))!
    const v = cell.metrics[metric as 'trustedAccuracy']!
    assert.equal(Number(value), v)
    assert.equal(text, pct(v))
    c++
  }
  assert.equal(c, r.cells.length * 4)
})

test('non-identifiable noise gets a plain-language callout', async () => {
  const r = await sweep()
  const html = toHtml(r)
  // group {0,1,2} at 0.8: each wrong partner 0.4 > 0.2
  const expected = `superclass 0.8: within the group {${NAMES.slice(0, 3).join(', ')}} a wrong label is more likely (0.4) than the right one (0.2); no method can undo this noise.`
  assert.ok(html.includes(expected.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')))
  assert.ok(html.includes('not identifiable'))
  // the sentence BENCHMARKS.md asks for, on Fashion-MNIST's groups
  const fm = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot']
  const groups = [
    [0, 1, 2, 3, 4, 6],
    [5, 7, 8, 9],
  ]
  const matrix = transitionMatrix('superclass', 10, 0.8, groups)
  const classes = classIdentifiability(matrix)
  const notes = identifiabilityNotes({ noiseType: 'superclass', rate: 0.8, matrix, identifiable: false, classes }, fm, groups)
  assert.deepEqual(notes, [
    'superclass 0.8: within the group {sandal, sneaker, bag, ankle-boot} a wrong label is more likely (0.27) than the right one (0.2); no method can undo this noise.',
  ])
  const sym = transitionMatrix('symmetric', 10, 0.9)
  assert.deepEqual(
    identifiabilityNotes({ noiseType: 'symmetric', rate: 0.9, matrix: sym, identifiable: false, classes: classIdentifiability(sym) }, fm, null),
    ['symmetric 0.9: for every class a wrong label is as likely (0.1) as the right one (0.1); no method can undo this noise.'],
  )
})

test('CSV has one row per noise type x rate x seed x method with the result numbers; JSON round-trips', async () => {
  const r = await sweep()
  const recs = parseCsv(toCsv(r))
  const header = recs[0]!.cells
  assert.equal(recs.length - 1, 2 * 2 * 2 * 4)
  const col = (name: string) => header.indexOf(name)
  for (const rec of recs.slice(1)) {
    const c = rec.cells
    const cell = r.cells.find(
      (x) =>
        x.noiseType === c[col('noise_type')] &&
        String(x.rate) === c[col('rate')] &&
        String(x.seed) === c[col('seed')] &&
        x.method === c[col('method')],
    )!
    assert.ok(cell)
    assert.equal(Number(c[col('trusted_accuracy')]), cell.metrics.trustedAccuracy)
    assert.equal(Number(c[col('label_recovery')]), cell.metrics.recovery)
    assert.equal(Number(c[col('flagged_recall')]), cell.metrics.flaggedRecall)
    assert.equal(c[col('identifiable')], cell.identifiable ? '1' : '0')
  }
  assert.deepEqual(JSON.parse(toJson(r)), JSON.parse(JSON.stringify(r)))
})

test('a validation that failed before its first cell gets a clear error, not a crash', () => {
  const stored = { error: 'no trusted split: import a test split or trusted_label column' } as unknown as ValidationResult
  for (const f of [toHtml, toCsv, toJson]) {
    assert.throws(() => f(stored), /nothing to report \(the validation failed: no trusted split/)
  }
})

test('a best method ahead by less than the spread over seeds is called a tie', async () => {
  const r = await sweep()
  const b = r.best.find((x) => x.noiseType === 'symmetric' && x.rate === 0.2)!
  const rows = r.summary.filter((s) => s.noiseType === 'symmetric' && s.rate === 0.2)
  const best = rows.find((s) => s.method === b.method)!
  const others = rows.filter((s) => s !== best)
  const glanceRow = (html: string) => html.split('<tr').find((t) => t.includes('<td class="l">symmetric 0.2</td><td class="l best">'))!
  // runner-up 0.1 points behind with a 3-point spread: a tie
  for (const s of others) s.mean.trustedAccuracy = b.trustedAccuracy - 0.03
  others[0]!.mean.trustedAccuracy = b.trustedAccuracy - 0.001
  others[0]!.std.trustedAccuracy = 0.03
  assert.match(glanceRow(toHtml(r)), /tie with /)
  // clearly ahead: 3 points with no spread
  others[0]!.mean.trustedAccuracy = b.trustedAccuracy - 0.03
  for (const s of rows) s.std.trustedAccuracy = 0
  assert.doesNotMatch(glanceRow(toHtml(r)), /tie with /)
})

test('labels-as-given mode reports confident learning noise estimate in plain words', async () => {
  const tr = gaussianClusters(160, 4, 5, 31)
  const te = gaussianClusters(80, 4, 5, 32, tr.centres)
  const withEstimate: typeof standInRefine = async (x, y, k, o) => ({ ...(await standInRefine(x, y, k, o)), details: { cl: { noiseRate: 0.123 } } })
  const r = await runValidation(
    { train: { x: tr.x, yGiven: tr.y }, trusted: { x: te.x, y: te.y }, classNames: NAMES },
    { noiseTypes: ['none'], rates: [], seeds: [0], methods: ['cl'] },
    { refine: withEstimate },
  )
  assert.equal(r.cells[0]!.metrics.estimatedNoiseRate, 0.123)
  const html = toHtml(r)
  checkWellFormed(html)
  assert.ok(html.includes('Confident learning estimates that <strong>12.3%</strong> of the given training labels are wrong.'))
  assert.ok(html.includes('<th>Noise estimated (CL)</th>'))
  const recs = parseCsv(toCsv(r))
  assert.equal(recs[1]!.cells[recs[0]!.cells.indexOf('estimated_noise_rate')], '0.123')
})

test('the template escapes method names and titles once, and inserts the chart SVG unescaped', async () => {
  const r = await sweep()
  const evil = '<script>alert(1)</script>'
  for (const c of r.cells) if (c.method === 'pll') c.method = evil
  for (const s of r.summary) if (s.method === 'pll') s.method = evil
  for (const b of r.best) if (b.method === 'pll') b.method = evil
  const html = toHtml(r, { title: `"&' <i>` })
  checkWellFormed(html)
  assert.ok(!/<script/i.test(html), 'a <script> element got through')
  assert.ok(!/<i>/.test(html))
  assert.ok(html.includes('<title>&quot;&amp;&#39; &lt;i&gt;</title>'))
  assert.ok(html.includes('<h1>&quot;&amp;&#39; &lt;i&gt;</h1>'))
  const escaped = '&lt;script&gt;alert(1)&lt;/script&gt;'
  // in the tables, in the chart legends (HTML) and in the class-name heatmap labels (SVG)
  assert.ok(html.includes(`<td class="l">${escaped}</td>`))
  assert.ok(html.includes(`</svg>${escaped}</span>`), 'legend entry for the method')
  assert.ok(html.includes(`data-key="symmetric|0.2|${escaped}"`))
  // escaped once only: no entity escaped a second time anywhere, the chart markup is live
  assert.ok(!/&amp;(lt|gt|quot|#39|amp);/.test(html), 'double-escaped text')
  assert.ok(!html.includes('&lt;svg') && !html.includes('&lt;figure') && !html.includes('&lt;path'))
  assert.equal(html.match(/<svg class="chart" viewBox="0 0 560 300"/g)!.length, 4)
  assert.ok(html.includes('<text x="52" y="18" class="ct">Accuracy on the trusted split</text>'))
  assert.ok(html.includes('"Segoe UI"'), 'the CSS is inserted as written')
})

test('where, against a known truth, even the best method leaves fewer training labels right than the given ones, the report says to keep the given labels', async () => {
  const r = await sweep()
  const b = r.best.find((x) => x.noiseType === 'symmetric' && x.rate === 0.2)!
  const best = r.summary.find((s) => s.noiseType === 'symmetric' && s.rate === 0.2 && s.method === b.method)!
  for (const row of r.summary) if (row !== best) row.mean.recovery = Math.max(row.mean.recovery ?? 0, (row.mean.givenAccuracy ?? 0) + 0.01)
  best.mean.givenAccuracy = 0.828
  best.mean.recovery = 0.698
  // Without a known truth "labels correct" is agreement with the given labels: nothing said.
  r.meta.truthKnown = false
  assert.doesNotMatch(toHtml(r), /worse-than-given/)
  r.meta.truthKnown = true
  const html = toHtml(r)
  checkWellFormed(html)
  const callout = html.split('data-testid="worse-than-given"')[1]
  assert.ok(callout, 'the callout is there')
  assert.match(
    callout,
    /At symmetric 0\.2 the best method(&#39;|&#x27;|')s labels are right for 69\.8% of the training samples, against 82\.8% for the given labels/,
  )
  // Better than the given labels everywhere: no callout.
  best.mean.recovery = 0.9
  assert.doesNotMatch(toHtml(r), /worse-than-given/)
})
