/**
 * The Validate screen around a sweep, in a real browser against web mode (issue 9): on the demo
 * project the time a sweep will take is estimated before it starts, the form survives leaving
 * the screen, a finished sweep shows its winner, and "Identifiable" is explained ("—" where no
 * noise was injected). The smallest sweep: teacher on the labels as given and at one symmetric rate,
 * one seed.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { skipReason, startApp, screenshot, type App, withEvidence } from './helpers.ts'

const skip = skipReason()
if (skip) console.log(`# skipping browser tests: ${skip}`)

let app: App

before(async () => {
  if (skip) return
  app = await startApp()
})
after(async () => {
  if (app) await app.close()
})

test(
  'Validate: an estimate before the sweep, the form kept, a winner after, identifiability explained',
  { skip: skip ?? false, timeout: 420_000 },
  () =>
    withEvidence(app, 'validate-ux', async () => {
      const { page } = app
      await page.goto(app.url)
      await page.getByRole('heading', { name: 'Welcome to Seed QC' }).waitFor()
      // The demo runs the whole pipeline, so the project has a timed refinement to estimate from.
      await page.getByRole('button', { name: 'Open the demo project' }).click()
      await page.waitForURL(/#\/review/, { timeout: 240_000 })

      await page.getByRole('link', { name: 'Validate' }).click()
      await page.getByRole('heading', { name: 'PoC sweep' }).waitFor()
      await page.getByRole('checkbox', { name: 'pll' }).uncheck()
      await page.getByRole('checkbox', { name: /^none/ }).check()
      await page.getByLabel(/Noise rates/).fill('0.2')
      await page.getByLabel('Seeds').fill('0')

      const estimate = page.getByTestId('sweep-estimate')
      await estimate.filter({ hasText: 'estimated' }).waitFor({ timeout: 10_000 })
      const text = (await estimate.innerText()).replace(/\s+/g, ' ')
      assert.match(text, /^2 trainings · estimated about \d+ (s|min)/, text)
      assert.match(text, /an estimate from the latest refinement/, text)

      // Leaving the screen and coming back keeps the form.
      await page.getByRole('link', { name: 'Review', exact: true }).click()
      await page.waitForURL(/#\/review/)
      await page.getByRole('link', { name: 'Validate' }).click()
      await page.getByRole('heading', { name: 'PoC sweep' }).waitFor()
      assert.equal(await page.getByLabel(/Noise rates/).inputValue(), '0.2')
      assert.equal(await page.getByLabel('Seeds').inputValue(), '0')
      assert.equal(await page.getByRole('checkbox', { name: 'pll' }).isChecked(), false)
      assert.equal(await page.getByRole('checkbox', { name: /^none/ }).isChecked(), true)
      assert.match(await estimate.innerText(), /^2 trainings/)

      const t0 = Date.now()
      await page.getByRole('button', { name: 'Run sweep' }).click()
      const banner = page.getByTestId('winner-banner')
      await banner.waitFor({ timeout: 300_000 })
      console.log(`# sweep of 2 trainings: ${((Date.now() - t0) / 1000).toFixed(1)} s (estimate said: ${text})`)
      assert.match(await banner.innerText(), /teacher wins 2 of 2 settings/)
      assert.match(await banner.innerText(), /symmetric 0\.2: teacher/)

      await page.waitForTimeout(300) // the chart draws on the next frame
      await screenshot(page, 'validate-winner')

      // "Identifiable" is explained, and is "—" where no noise was injected.
      const help = await page.getByTestId('identifiable-help').getAttribute('title')
      assert.match(help ?? '', /right label stays more likely/)
      await page.getByTestId('identifiable-note').waitFor()
      const table = await page.getByTestId('validation-table').innerText()
      const noneRow = table.split('\n').find((l) => /^none/.test(l))
      assert.ok(noneRow, table)
      assert.match(noneRow, /—\s*$/)
      assert.doesNotMatch(noneRow, /yes/)

      // The next estimate comes from the sweep just timed.
      await estimate.filter({ hasText: /timings of sweep #\d+/ }).waitFor({ timeout: 10_000 })
    }),
)
