import { test } from 'node:test'
import assert from 'node:assert/strict'
import { escapeHtml, joinHtml, raw, SafeHtml, safeHtml } from '../../../electron/engine/validate/report/template.ts'
import { barChart, heatmap, lineChart } from '../../../electron/engine/validate/report/charts.ts'

test('safeHtml escapes every interpolated value and keeps the literal markup', () => {
  const name = `<script>alert(1)</script> "&'`
  const out = safeHtml`<td class="l" title="${name}">${name}</td>`
  assert.ok(out instanceof SafeHtml)
  assert.equal(
    String(out),
    '<td class="l" title="&lt;script&gt;alert(1)&lt;/script&gt; &quot;&amp;&#39;">&lt;script&gt;alert(1)&lt;/script&gt; &quot;&amp;&#39;</td>',
  )
  assert.equal(escapeHtml(`<&>"'`), '&lt;&amp;&gt;&quot;&#39;')
})

test('nested templates, raw markup, arrays and empty values', () => {
  const inner = safeHtml`<b>${'a&b'}</b>`
  assert.equal(String(safeHtml`<p>${inner}</p>`), '<p><b>a&amp;b</b></p>', 'nested results are not escaped twice')
  assert.equal(String(safeHtml`<p>${raw('<i>x</i>')}</p>`), '<p><i>x</i></p>')
  assert.equal(String(safeHtml`<ul>${['<1>', safeHtml`<li>2</li>`]}</ul>`), '<ul>&lt;1&gt;<li>2</li></ul>')
  assert.equal(String(safeHtml`${null}${undefined}${false}${0}|${1.5}`), '0|1.5')
  assert.equal(String(joinHtml(['<a>', safeHtml`<b/>`], ' · ')), '&lt;a&gt; · <b/>')
})

test('the chart kit escapes its labels once and returns live SVG', () => {
  const evil = `<script>x</script> "&'`
  const e = escapeHtml(evil)
  const line = lineChart({
    title: evil,
    yLabel: evil,
    series: [
      {
        name: evil,
        color: '#000',
        dash: '4 4',
        marker: 2,
        points: [
          { x: 0.2, y: 0.8, err: 0.05 },
          { x: 0.4, y: 0.6 },
        ],
      },
    ],
    reference: { name: evil, points: [{ x: 0.2, y: 0.7 }] },
    shade: [0.4],
  })
  const bar = barChart(evil, [{ name: evil, color: '#000', y: 0.5, err: 0.1 }])
  const heat = heatmap(
    evil,
    [
      [1, 2],
      [3, 4],
    ],
    [evil, 'ok'],
    evil,
    evil,
  )
  for (const svg of [line, bar, heat]) {
    assert.equal(typeof svg, 'string')
    assert.ok(svg.startsWith('<figure class="fig"><svg class="'))
    assert.ok(!svg.includes('<script'))
    assert.ok(svg.includes(`<title>${e}</title>`) && svg.includes(`aria-label="${e}"`))
    assert.ok(!/&amp;(lt|gt|quot|#39|amp);/.test(svg), 'double-escaped text')
  }
  assert.ok(line.includes('stroke-dasharray="4 4"'))
  assert.ok(line.includes(`</svg>${e}</span>`))
  assert.ok(bar.includes('>50.0%</text>'))
  assert.equal(lineChart({ title: 't', yLabel: 'y', series: [] }), '')
})
