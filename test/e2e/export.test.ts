/**
 * Export in a real browser against web mode (issue 9): for every option (all samples, only
 * reviewed, taking the suggestion for unreviewed flagged samples) and every format, the preview's
 * figures equal what the written file holds; the destination starts beside the project and the
 * last one is remembered; the Download button hands the browser the file the server wrote, under
 * the session token.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { skipReason, startApp, screenshot, type App, apiCall, withEvidence } from './helpers.ts'
import type { JobInfo, SampleRow } from '../../shared/contract.ts'

const skip = skipReason()
if (skip) console.log(`# skipping browser tests: ${skip}`)

let app: App
let projectPath = ''

const call = <T>(method: string, input: unknown = {}): Promise<T> => apiCall<T>(app, method, input)

async function waitJob(jobId: string): Promise<JobInfo> {
  for (const t0 = Date.now(); ;) {
    const { jobs } = await call<{ jobs: JobInfo[] }>('listJobs').catch(() => ({ jobs: [] as JobInfo[] }))
    const job = jobs.find((j) => j.id === jobId)
    if (job && job.status !== 'running') return job
    if (Date.now() - t0 > 200_000) throw new Error(`job ${jobId} still running`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** Parses a CSV without embedded newlines (quotes handled). */
function parseCsv(text: string): Record<string, string>[] {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.length > 0)
  const split = (line: string): string[] => {
    const out: string[] = []
    let cur = ''
    let q = false
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]!
      if (q) {
        if (ch === '"' && line[i + 1] === '"') {
          cur += '"'
          i++
        } else if (ch === '"') q = false
        else cur += ch
      } else if (ch === '"') q = true
      else if (ch === ',') {
        out.push(cur)
        cur = ''
      } else cur += ch
    }
    out.push(cur)
    return out
  }
  const header = split(lines[0]!)
  return lines.slice(1).map((l) => Object.fromEntries(split(l).map((v, i) => [header[i]!, v])))
}

/** What a file holds, counted the way the preview counts. */
function countsOf(rows: Record<string, unknown>[]): {
  included: number
  changed: number
  unreviewed: number
  auto: number
  byClass: Map<string, number>
} {
  const byClass = new Map<string, number>()
  for (const r of rows) {
    const f = String(r.final_label ?? '')
    if (f) byClass.set(f, (byClass.get(f) ?? 0) + 1)
  }
  return {
    included: rows.length,
    changed: rows.filter((r) => r.final_label && r.final_label !== r.given_label).length,
    unreviewed: rows.filter((r) => r.review_status === 'unreviewed').length,
    auto: rows.filter((r) => r.review_status === 'auto-accepted').length,
    byClass,
  }
}

before(async () => {
  if (skip) return
  app = await startApp()
  const ref = await call<{ jobId: string }>('createDemoProject', {})
  assert.equal((await waitJob(ref.jobId)).status, 'completed')
  projectPath = (await call<{ project: { path: string } }>('currentProject')).project.path
  // A few decisions of each kind on flagged samples, as a reviewer would leave them.
  const flagged = (await call<{ items: SampleRow[] }>('querySamples', { flagged: true, sort: 'rank', limit: 20 })).items
  assert.ok(flagged.length >= 8, 'the demo flags enough samples')
  const reviewer = 'Export Test'
  const decide = (i: number, action: string, classIdx?: number) =>
    call('review', { sampleId: flagged[i]!.id, action, reviewer, ...(classIdx !== undefined ? { classIdx } : {}) })
  for (const i of [0, 1, 2]) await decide(i, 'accept')
  await decide(3, 'keep')
  await decide(4, 'relabel', (flagged[4]!.given! + 1) % 5)
  await decide(5, 'relabel', flagged[5]!.given!)
  await decide(6, 'exclude')
  await decide(7, 'exclude')
})
after(async () => {
  if (app) await app.close()
})

async function stat(id: string): Promise<number> {
  return Number(await app.page.getByTestId(id).locator('.v').innerText())
}

async function previewOnScreen(
  autoAccept: boolean,
): Promise<{ included: number; excluded: number; changed: number; unreviewed: number; auto: number; byClass: Map<string, number> }> {
  const { page } = app
  const bars = await page
    .locator('.bar[data-class]')
    .evaluateAll((els) => els.map((e) => [e.getAttribute('data-class')!, Number(e.getAttribute('data-count'))] as const))
  return {
    included: await stat('pv-included'),
    excluded: await stat('pv-excluded'),
    changed: await stat('pv-changed'),
    unreviewed: await stat('pv-unreviewed'),
    auto: autoAccept ? await stat('pv-auto') : 0,
    byClass: new Map(bars.filter(([, n]) => n > 0)),
  }
}

test('the preview equals what the file holds, for every option and format', { skip: skip ?? false, timeout: 300_000 }, () =>
  withEvidence(app, 'export', async () => {
    const { page } = app
    await page.goto(app.url)
    await page.getByRole('link', { name: 'Export' }).click()
    const dest = page.getByLabel(/Destination file/)
    await dest.waitFor()
    // The destination starts beside the project.
    const dir = dirname(projectPath)
    assert.equal(await dest.inputValue(), join(dir, 'project-labels.csv'))

    const options = [
      { name: 'all samples', onlyReviewed: false, autoAccept: false },
      { name: 'only reviewed', onlyReviewed: true, autoAccept: false },
      { name: 'take the suggestion for flagged samples nobody reviewed', onlyReviewed: false, autoAccept: true },
    ]
    let k = 0
    for (const o of options) {
      await page.getByLabel('Only reviewed samples').setChecked(o.onlyReviewed)
      await page.getByLabel(/Take the suggestion for flagged samples/).setChecked(o.autoAccept)
      for (const format of ['csv', 'json', 'imagefolder'] as const) {
        await page.locator(`input[name="format"][value="${format}"]`).check()
        const out = join(app.dataDir, 'out', `export-${k++}.${format === 'imagefolder' ? 'd' : format}`)
        await page.getByLabel(/Destination (file|folder)/).fill(out)
        // The preview reloads on each option change: wait for it to settle on this option's figures.
        const expected = await call<{ included: number; excluded: number; changed: number; unreviewed: number; autoAccepted: number }>(
          'exportPreview',
          {
            onlyReviewed: o.onlyReviewed,
            autoAccept: o.autoAccept,
          },
        )
        await page
          .getByTestId('pv-included')
          .filter({ hasText: String(expected.included) })
          .waitFor()
        const shown = await previewOnScreen(o.autoAccept)
        await page.getByRole('button', { name: 'Export', exact: true }).click()
        await page.getByTestId('export-done').waitFor({ timeout: 60_000 })
        assert.ok(existsSync(out), out)
        let rows: Record<string, unknown>[]
        if (format === 'csv') rows = parseCsv(readFileSync(out, 'utf8'))
        else if (format === 'json') rows = (JSON.parse(readFileSync(out, 'utf8')) as { samples: Record<string, unknown>[] }).samples
        else {
          rows = parseCsv(readFileSync(join(out, 'manifest.csv'), 'utf8'))
          // Every class folder holds as many images as the preview's bar for that class says.
          for (const [cls, n] of shown.byClass) assert.equal(readdirSync(join(out, cls)).length, n, `${o.name}: ${cls}/ holds ${n} images`)
        }
        const file = countsOf(rows)
        const what = `${o.name}, ${format}`
        assert.equal(shown.included, file.included, `${what}: samples written`)
        assert.equal(shown.changed, file.changed, `${what}: changed labels`)
        assert.equal(shown.unreviewed, file.unreviewed, `${what}: not reviewed`)
        assert.equal(shown.auto, file.auto, `${what}: suggestion taken`)
        assert.deepEqual(shown.byClass, file.byClass, `${what}: final labels per class`)
        assert.equal(shown.excluded, 2, `${what}: the two exclusions are left out`)
        assert.equal(rows.filter((r) => r.review_status === 'excluded').length, 0)
        console.log(`# ${what}: ${file.included} rows, ${file.changed} changed, ${file.unreviewed} unreviewed, ${file.auto} auto-accepted`)
      }
    }
    // The last destination is remembered per format (web mode: in this browser).
    await page.locator('input[name="format"][value="csv"]').check()
    await page.reload()
    await page.getByLabel(/Destination file/).waitFor()
    assert.equal(await page.getByLabel(/Destination file/).inputValue(), join(app.dataDir, 'out', 'export-6.csv'))
    await screenshot(page, 'export-preview')
  }),
)

test('web mode downloads the exported file through the server, under the token', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const { page } = app
  await page.getByLabel('Only reviewed samples').setChecked(false)
  await page.getByLabel(/Take the suggestion for flagged samples/).setChecked(true)
  await page.locator('input[name="format"][value="csv"]').check()
  const expected = await call<{ included: number; changed: number }>('exportPreview', { autoAccept: true })
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 60_000 }),
    page.getByRole('button', { name: 'Download', exact: true }).click(),
  ])
  assert.match(download.suggestedFilename(), /^project-labels-\d{8}T\d{6}\.csv$/)
  const saved = join(app.dataDir, 'downloaded.csv')
  await download.saveAs(saved)
  const rows = parseCsv(readFileSync(saved, 'utf8'))
  assert.equal(rows.length, expected.included)
  assert.equal(countsOf(rows).changed, expected.changed)
  await page
    .getByTestId('export-done')
    .filter({ hasText: /Downloaded/ })
    .waitFor()
  // The copy on the server is beside the project, under exports/.
  const onServer = readdirSync(join(dirname(projectPath), 'exports'))
  assert.ok(onServer.includes(download.suggestedFilename()), onServer.join(', '))

  // The endpoint serves finished exports of this server only, and only with the token.
  const { jobs } = await call<{ jobs: JobInfo[] }>('listJobs')
  const exportJob = jobs.find((j) => j.kind === 'export' && j.status === 'completed')!
  assert.equal((await fetch(`${app.origin}/export/${exportJob.id}`)).status, 401)
  assert.equal((await fetch(`${app.origin}/export/${exportJob.id}?token=${app.token}`)).status, 200)
  assert.equal((await fetch(`${app.origin}/export/00000000-0000-0000-0000-000000000000?token=${app.token}`)).status, 404)
  assert.equal((await fetch(`${app.origin}/export/..%2f..%2fetc%2fpasswd?token=${app.token}`)).status, 404)
})
