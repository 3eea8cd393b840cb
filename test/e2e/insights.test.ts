/**
 * Insights in a real browser against the real engine (web mode, Chromium through playwright-core):
 * before features, one empty state with the action that fills it (no all-zero matrix, no error
 * toast); on the demo, the UMAP map is drawn by a job on first visit, with the run's flagged
 * samples drawn as outlined diamonds (counted in the legend against the engine, and found in the
 * canvas's pixels), the two error figures each explained in a sentence, the map read from the
 * cache on the next visit (no second job), and a click on a point opening that sample in Review.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import sharp from 'sharp'
import { skipReason, startApp, screenshot, type App, apiCall, withEvidence } from './helpers.ts'
import type { JobInfo, JobRef, OutputOf } from '../../shared/contract.ts'

const skip = skipReason()
if (skip) console.log(`# skipping browser tests: ${skip}`)

let app: App

const call = <T>(method: string, input: unknown = {}): Promise<T> => apiCall<T>(app, method, input)

async function waitJob(jobId: string, timeoutMs = 240_000): Promise<JobInfo> {
  const t0 = Date.now()
  for (;;) {
    const job = (await call<{ jobs: JobInfo[] }>('listJobs')).jobs.find((j) => j.id === jobId)
    if (job && job.status !== 'running') return job
    if (Date.now() - t0 > timeoutMs) throw new Error(`job ${jobId} still running after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

before(async () => {
  if (skip) return
  app = await startApp()
})
after(async () => {
  if (app) await app.close()
})

const guarded = (name: string, body: () => Promise<void>): Promise<void> => withEvidence(app, `e2e-insights-${name}`, body)

const insightsLink = (): ReturnType<App['page']['getByRole']> =>
  app.page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Insights' })

test('before features: one empty state that leads to the Pipeline, no matrix, no error', { skip: skip ?? false, timeout: 120_000 }, () =>
  guarded('empty', async () => {
    const { page } = app
    await call('createProject', { name: 'no-features-yet' })
    await page.goto(app.url)
    await insightsLink().click()
    const empty = page.getByTestId('insights-empty')
    await empty.waitFor()
    assert.match(await empty.innerText(), /needs the images read by a backbone first/)
    assert.equal(await page.getByTestId('confusion').count(), 0, 'no all-zero matrix')
    assert.equal(await page.getByTestId('embedding-map').count(), 0)
    await page.waitForTimeout(500) // a failed request would raise its toast by now
    assert.equal(await page.getByRole('alert').count(), 0, 'no error toast')
    assert.deepEqual(app.problems, [], 'no console errors or failed requests')
    await empty.getByRole('link', { name: /Go to Pipeline/ }).click()
    await page.waitForURL(/#\/pipeline/)
  }),
)

test(
  'on the demo: the map with flagged samples marked, the two error figures explained, cached for the next visit, a point opens Review',
  { skip: skip ?? false, timeout: 300_000 },
  () =>
    guarded('demo', async () => {
      const { page } = app
      const demo = await call<JobRef>('createDemoProject', { perClass: 24 })
      const job = await waitJob(demo.jobId)
      assert.equal(job.status, 'completed', job.error ?? '')
      const flagged = (await call<{ flagged: number }>('reviewProgress', {})).flagged
      assert.ok(flagged > 0, 'the demo run flags samples')

      await page.goto(app.url)
      app.problems.length = 0 // what the Pipeline screen of the empty project asked on its way out is not this screen's
      await insightsLink().click()
      // First visit: the map is computed by a job (progress bar, cancellable), then drawn.
      const legend = page.getByTestId('map-legend-flagged')
      await legend.waitFor({ timeout: 120_000 })
      assert.match(await legend.innerText(), new RegExp(`flagged by the run \\(${flagged}\\)`))
      const map = await call<OutputOf<'embeddingMap'>>('embeddingMap', { method: 'umap' })
      assert.equal(map.status, 'ready')
      assert.equal(map.points.length, 120)
      assert.equal(map.points.filter((p) => p.flagged).length, flagged)
      const canvas = page.getByRole('img', { name: /^Map of 120 samples/ })
      assert.match((await canvas.getAttribute('aria-label')) ?? '', new RegExp(`${flagged} flagged by the run drawn as outlined diamonds`))
      const legendText = await page.getByTestId('map-legend').innerText()
      const classes = (await call<{ project: { classes: { name: string }[] } }>('currentProject')).project.classes.map((c) => c.name)
      for (const c of classes) assert.ok(legendText.includes(c), `legend names ${c}`)

      // The flagged diamonds' outline is drawn in the text colour, which no class colour or axis is: find it in the pixels.
      await page.waitForTimeout(300) // the scatter plot draws on the next frame
      const png = await canvas.screenshot()
      const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true })
      const dark: [number, number][] = []
      for (let y = 0; y < info.height; y++)
        for (let x = 0; x < info.width; x++) {
          const o = (y * info.width + x) * info.channels
          if (data[o]! < 60 && data[o + 1]! < 60 && data[o + 2]! < 60) dark.push([x, y])
        }
      assert.ok(dark.length > flagged * 4, `outlined diamonds in the canvas (${dark.length} outline pixels for ${flagged} flagged)`)

      // The two error figures, each with its sentence, and which one to believe.
      const model = page.getByTestId('noise-model-explained')
      const trusted = page.getByTestId('noise-trusted-explained')
      assert.match(await model.innerText(), /model's guess.*not as the error rate/)
      assert.match(await trusted.innerText(), /Counted, not guessed: of the 24 images with a trusted \(checked\) label.*believe this figure/)
      await screenshot(page, 'insights-map')

      // Next visit: read from the cache, no second job.
      await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Review' }).click()
      await insightsLink().click()
      await legend.waitFor()
      const mapJobs = (await call<{ jobs: JobInfo[] }>('listJobs')).jobs.filter((j) => j.kind === 'map')
      assert.equal(mapJobs.length, 1, 'the map was computed once')

      // A click on a drawn point opens that sample in Review: the middle of one outlined diamond.
      await page.waitForTimeout(300)
      const png2 = await canvas.screenshot()
      const raw2 = await sharp(png2).raw().toBuffer({ resolveWithObject: true })
      const isDark = (x: number, y: number): boolean => {
        const o = (y * raw2.info.width + x) * raw2.info.channels
        return raw2.data[o]! < 60 && raw2.data[o + 1]! < 60 && raw2.data[o + 2]! < 60
      }
      let seed: [number, number] | null = null
      for (let y = 0; y < raw2.info.height && !seed; y++) for (let x = 0; x < raw2.info.width && !seed; x++) if (isDark(x, y)) seed = [x, y]
      assert.ok(seed)
      // The outline's bounding box (its connected dark pixels) is centred on the point.
      const seen = new Set<number>()
      const stack = [seed]
      let [x0, y0, x1, y1] = [seed[0], seed[1], seed[0], seed[1]]
      while (stack.length) {
        const [x, y] = stack.pop()!
        const k = y * raw2.info.width + x
        if (seen.has(k) || x < 0 || y < 0 || x >= raw2.info.width || y >= raw2.info.height || !isDark(x, y)) continue
        seen.add(k)
        ;[x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)]
        stack.push([x + 1, y], [x - 1, y], [x, y + 1], [x, y - 1], [x + 1, y + 1], [x - 1, y - 1], [x + 1, y - 1], [x - 1, y + 1])
      }
      await canvas.click({ position: { x: (x0 + x1) / 2, y: (y0 + y1) / 2 } })
      await page.waitForURL(/#\/review\?.*sample=\d+/)
      const id = Number(/sample=(\d+)/.exec(page.url())![1])
      assert.ok(
        map.points.some((p) => p.id === id),
        `sample ${id} is a point of the map`,
      )
      assert.deepEqual(app.problems, [], 'no console errors or failed requests')
    }),
)
