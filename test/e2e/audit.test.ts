/**
 * The audit in a real browser against the real engine (web mode, Chromium through playwright-core):
 * on the small demo project, plan an audit (the size is shown before anything is drawn), label the
 * drawn images blind by keyboard as an inspector who knows the true class (the demo's hidden
 * truth), and read the result: the accuracy of the final labels and its 95% interval, checked
 * against a count and a Wilson interval computed here from the truth; then the same figure on
 * Insights and a summary on Export.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { skipReason, startApp, screenshot, type App, apiCall, withEvidence } from './helpers.ts'
import type { AuditPlan, JobInfo, JobRef } from '../../shared/contract.ts'

const skip = skipReason()
if (skip) console.log(`# skipping browser tests: ${skip}`)

let app: App

const call = <T>(method: string, input: unknown = {}): Promise<T> => apiCall<T>(app, method, input)

async function waitJob(jobId: string, timeoutMs = 240_000): Promise<JobInfo> {
  const t0 = Date.now()
  for (;;) {
    const jobs = await call<{ jobs: JobInfo[] }>('listJobs').then(
      (r) => r.jobs,
      (e: Error) => {
        if (e.message !== 'fetch failed') throw e
        return []
      },
    )
    const job = jobs.find((j) => j.id === jobId)
    if (job && job.status !== 'running') return job
    if (Date.now() - t0 > timeoutMs) throw new Error(`job ${jobId} still running after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** Each sample's stored path and given class name, and the demo's hidden truth by path. */
function projectTruth(file: string): { path: Map<number, string>; given: Map<number, string>; truth: Map<string, string> } {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    const rows = db.prepare('SELECT s.id, s.path, c.name FROM samples s JOIN classes c ON c.id = s.given_class_id').all() as {
      id: number
      path: string
      name: string
    }[]
    const truthCsv = (db.prepare("SELECT value FROM meta WHERE key = 'demo_truth_csv'").get() as { value: string }).value
    const truth = new Map<string, string>()
    for (const line of readFileSync(truthCsv, 'utf8').split(/\r?\n/).slice(1)) {
      if (!line) continue
      const i = line.lastIndexOf(',')
      truth.set(line.slice(0, i), line.slice(i + 1))
    }
    return { path: new Map(rows.map((r) => [r.id, r.path])), given: new Map(rows.map((r) => [r.id, r.name])), truth }
  } finally {
    db.close()
  }
}

/** Wilson's 95% score interval, written out here from its formula (Wilson 1927). */
function wilson(k: number, n: number): [number, number] {
  const z = 1.959963984540054
  const c = (k + (z * z) / 2) / (n + z * z)
  const h = (z / (n + z * z)) * Math.sqrt((k * (n - k)) / n + (z * z) / 4)
  return [k === 0 ? 0 : c - h, k === n ? 1 : c + h]
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`

before(async () => {
  if (skip) return
  app = await startApp()
})
after(async () => {
  if (app) await app.close()
})

test(
  'an inspector audits the demo project blind by keyboard and reads the accuracy of the final labels',
  { skip: skip ?? false, timeout: 300_000 },
  () => withEvidence(app, 'e2e-audit', audit),
)

async function audit(): Promise<void> {
  const { page } = app
  const demo = await call<JobRef>('createDemoProject', { perClass: 24 })
  const job = await waitJob(demo.jobId)
  assert.equal(job.status, 'completed', job.error ?? '')
  const { project } = await call<{ project: { path: string; classes: { idx: number; name: string }[] } | null }>('currentProject')
  assert.ok(project)
  const classNames = project.classes.map((c) => c.name)
  const { path, given, truth } = projectTruth(project.path)

  await page.goto(app.url)
  await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Audit' }).click()
  await page.getByRole('heading', { name: 'Audit the final labels' }).waitFor()

  // The plan: the size for the chosen precision is shown before anything is drawn, as the engine computes it.
  await page.getByRole('combobox', { name: /^Precision/ }).selectOption({ label: '± 15 points' })
  await page.getByRole('combobox', { name: /^Expected accuracy/ }).selectOption({ label: 'about 80%' })
  const expected = await call<AuditPlan>('auditPlan', { stratum: 'all', precision: 0.15, expected: 0.8 })
  const planText = page.getByTestId('audit-plan')
  await planText.filter({ hasText: `labels ${expected.size} of ${expected.population} images` }).waitFor()
  assert.equal((await call<{ audits: unknown[] }>('listAudits')).audits.length, 0, 'planning draws nothing')
  await page.getByLabel('Seed').fill('2024')
  await page.getByPlaceholder('your name').fill('E2E Auditor')
  await page.getByRole('button', { name: `Start audit (${expected.size} images)` }).click()

  // Blind labelling: the image only. The test answers with the true class, by keyboard.
  const labelling = page.getByTestId('audit-labelling')
  await labelling.waitFor()
  const seen: number[] = []
  for (let i = 0; i < expected.size; i++) {
    await labelling.getByRole('heading', { name: `image ${i + 1} of ${expected.size}` }).waitFor()
    const img = labelling.locator('img')
    const src = (await img.getAttribute('src')) ?? ''
    const id = Number(/\/img\/(\d+)\?/.exec(src)?.[1])
    assert.ok(Number.isInteger(id) && path.has(id), `image ${i + 1}: a sample of the project (${src})`)
    const text = await labelling.innerText()
    assert.ok(!text.includes(path.get(id)!), 'the path (which names the given class folder) is not shown')
    assert.ok(!/given:|suggest(ed|ion):/i.test(text), 'no given label or suggestion is shown')
    seen.push(id)
    if (i === 1) await screenshot(page, 'audit-labelling')
    const t = truth.get(path.get(id)!)
    assert.ok(t, `the demo knows the truth of ${path.get(id)}`)
    await page.keyboard.press(String(classNames.indexOf(t) + 1))
  }
  assert.equal(new Set(seen).size, expected.size, 'every drawn image shown once')

  // The result: the share of final labels (here the given ones: nobody reviewed) that the inspector confirmed.
  const result = page.getByTestId('audit-result')
  await result.waitFor({ timeout: 30_000 })
  const right = seen.filter((id) => given.get(id) === truth.get(path.get(id)!)).length
  const [lo, hi] = wilson(right, seen.length)
  assert.equal(await result.getByTestId('audit-result-accuracy').innerText(), pct(right / seen.length))
  assert.equal(await result.getByTestId('audit-result-interval').innerText(), `95% interval ${pct(lo)} – ${pct(hi)}`)
  assert.match(await result.innerText(), new RegExp(`${right} of ${seen.length} audited labels agreed`))
  const rows = result.getByTestId('audit-per-class').locator('tbody tr')
  assert.equal(await rows.count(), classNames.length)
  for (let c = 0; c < classNames.length; c++) {
    const mine = seen.filter((id) => given.get(id) === classNames[c])
    const cells = rows.nth(c).locator('td')
    assert.equal(await cells.nth(1).innerText(), String(mine.length), `${classNames[c]}: audited`)
    assert.equal(
      await cells.nth(2).innerText(),
      String(mine.filter((id) => truth.get(path.get(id)!) === classNames[c]).length),
      `${classNames[c]}: right`,
    )
  }
  await screenshot(page, 'audit')

  // Insights and Export show the latest completed audit.
  await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Insights' }).click()
  const summary = page.getByTestId('audit-summary')
  await summary.getByTestId('audit-accuracy').waitFor()
  assert.equal(await summary.getByTestId('audit-accuracy').innerText(), pct(right / seen.length))
  assert.match(await summary.innerText(), new RegExp(`${seen.length} samples labelled blind`))
  await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Export' }).click()
  await page.getByTestId('audit-summary').getByTestId('audit-accuracy').waitFor()
  assert.deepEqual(app.problems, [], 'no console errors or failed requests')
}
