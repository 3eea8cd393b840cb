/**
 * `npm run screenshots`: refreshes docs/screenshots/ with every screen of the app in both themes
 * (`<screen>.png` light, `<screen>-dark.png` dark), at 1440x900, on a fresh demo project in web
 * mode. Tests never write there (they use test-output/screenshots/); this script is the one way
 * the committed pictures change. Needs Chromium (QC_CHROMIUM or /usr/bin/chromium).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { ROOT, skipReason, startApp } from '../test/e2e/helpers.ts'

const OUT = join(ROOT, 'docs', 'screenshots')

async function call<T>(origin: string, token: string, method: string, input: unknown = {}): Promise<T> {
  const res = await fetch(`${origin}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-qc-token': token },
    body: JSON.stringify(input),
  })
  const body = (await res.json()) as T
  if (!res.ok) throw new Error(`${method}: ${JSON.stringify(body)}`)
  return body
}

async function setTheme(page: Page, theme: 'light' | 'dark'): Promise<void> {
  for (let i = 0; i < 4 && (await page.locator('html').getAttribute('data-theme')) !== theme; i++)
    await page.getByRole('button', { name: /^Theme/ }).click()
}

async function shoot(page: Page, name: string): Promise<void> {
  // Notices in the corner would cover the screen being documented.
  const dismiss = page.getByRole('button', { name: 'Dismiss' })
  while ((await dismiss.count()) > 0) await dismiss.first().click()
  await page.waitForTimeout(400) // charts draw on the next frame
  for (const theme of ['light', 'dark'] as const) {
    await setTheme(page, theme)
    await page.waitForTimeout(250)
    const file = join(OUT, `${name}${theme === 'dark' ? '-dark' : ''}.png`)
    await page.screenshot({ path: file })
    console.log(`wrote ${file}`)
  }
  await setTheme(page, 'light')
}

async function main(): Promise<void> {
  const skip = skipReason()
  if (skip) throw new Error(skip)
  mkdirSync(OUT, { recursive: true })
  const app = await startApp({ width: 1440, height: 900 })
  const { page } = app
  try {
    await page.goto(app.url)
    await page.getByRole('heading', { name: 'Welcome to Seed QC' }).waitFor()
    await shoot(page, 'welcome')

    // The demo, as a new user runs it: the button, its progress, then Review.
    await page.getByRole('button', { name: 'Open the demo project' }).click()
    await page.getByRole('progressbar').first().waitFor()
    // Polled from here: the page's CSP forbids evaluating strings in it.
    for (const t0 = Date.now(); Date.now() - t0 < 120_000; await page.waitForTimeout(100)) {
      const now = await page
        .getByRole('progressbar')
        .first()
        .getAttribute('aria-valuenow', { timeout: 1000 })
        .catch(() => null)
      if (Number(now ?? 0) >= 30) break
    }
    await page.screenshot({ path: join(OUT, 'demo-progress.png') })
    await page.waitForURL(/#\/review/, { timeout: 180_000 })
    await page.locator('.tile.cur').waitFor()

    // A few decisions, so the grid shows final labels and the export has something to say.
    await page.locator('#reviewer').fill('Inspector')
    await page.keyboard.press('Enter')
    await page.locator('body').click({ position: { x: 5, y: 300 } })
    for (const key of ['a', 'a', 'k', '3', 'a']) await page.keyboard.press(key)
    await page
      .getByTestId('review-counter')
      .filter({ hasText: /(^|\D)5 \/ \d+/ })
      .waitFor()
    await page.locator('.tile').nth(6).click()
    await page.getByRole('heading', { name: 'Nearest neighbours' }).waitFor()
    await shoot(page, 'review')
    await page.keyboard.press('f')
    await page.keyboard.press('+')
    await page.keyboard.press('+')
    await shoot(page, 'review-focus')
    await page.keyboard.press('0')
    await page.keyboard.press('f')
    // The help is modal: the theme is switched with it closed.
    for (const theme of ['light', 'dark'] as const) {
      await setTheme(page, theme)
      await page.locator('body').click({ position: { x: 5, y: 300 } })
      await page.keyboard.press('?')
      await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor()
      await page.screenshot({ path: join(OUT, `review-help${theme === 'dark' ? '-dark' : ''}.png`) })
      await page.keyboard.press('Escape')
    }
    await setTheme(page, 'light')

    await page.getByRole('link', { name: 'Projects' }).click()
    await page.getByTestId('project-card').waitFor()
    await shoot(page, 'projects')

    await page.getByRole('link', { name: 'Pipeline' }).click()
    await page.getByTestId('run-plain').waitFor()
    await shoot(page, 'pipeline')
    await page.getByText('Advanced options').click()
    await page.getByText('Advanced: how the method was chosen').click()
    await page.getByTestId('selection-table').waitFor()
    await shoot(page, 'pipeline-advanced')

    await page.getByRole('link', { name: 'Insights' }).click()
    await page.getByTestId('confusion').waitFor()
    await page.locator('canvas').first().waitFor()
    await shoot(page, 'insights')

    // Validate with a small finished sweep, so the chart and the table are there.
    const ref = await call<{ jobId: string }>(app.origin, app.token, 'startValidation', {
      noiseTypes: ['symmetric'],
      rates: [0.3],
      seeds: [0],
      methods: ['teacher'],
      lambda: 0.001,
    })
    for (const t0 = Date.now(); Date.now() - t0 < 240_000; await new Promise((r) => setTimeout(r, 500))) {
      const { jobs } = await call<{ jobs: { id: string; status: string }[] }>(app.origin, app.token, 'listJobs')
      if (jobs.find((j) => j.id === ref.jobId)?.status !== 'running') break
    }
    await page.getByRole('link', { name: 'Validate' }).click()
    await page.getByRole('heading', { name: 'PoC sweep' }).waitFor()
    await page
      .getByTestId('validation-table')
      .waitFor({ timeout: 60_000 })
      .catch(() => undefined)
    await shoot(page, 'validate')

    await page.getByRole('link', { name: 'Export' }).click()
    await page.getByTestId('export-preview').waitFor()
    await page.getByLabel(/Take the suggestion for flagged samples/).check()
    await page.waitForTimeout(500)
    await shoot(page, 'export')
  } finally {
    await app.close()
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`screenshots: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(1)
  },
)
