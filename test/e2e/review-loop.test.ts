/**
 * Review in the loop (issue 8, part 2), in a real browser against web mode: on the demo project,
 * with "update every 10 decisions", an inspector reviews 30 samples by keyboard while the
 * suggestions are updated in the background. Checked: the list follows each new run (its tiles are
 * the new run's flagged samples, in its order), the sample in view stays selected across a switch,
 * every decision stands (in the UI, through the API and in the append-only log), the count of
 * changed suggestions on screen is the one the job's result carries (read from the event stream as
 * a second client would), and that count is what the two runs' suggestions say when recounted here.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import { skipReason, startApp, screenshot, type App, apiCall, withEvidence } from './helpers.ts'
import type { JobInfo, RefreshResult, SampleRow } from '../../shared/contract.ts'

const skip = skipReason()
if (skip) console.log(`# skipping browser tests: ${skip}`)

let app: App
let stopEvents: (() => void) | null = null
/** Results of the refresh jobs, from the server's event stream, in the order they completed. */
const refreshes: RefreshResult[] = []

const call = <T>(method: string, input: unknown = {}): Promise<T> => apiCall<T>(app, method, input)

/** Listens to /api/events (server-sent events) from Node and keeps every refresh job's result. */
async function listen(): Promise<() => void> {
  const ctl = new AbortController()
  const res = await fetch(`${app.origin}/api/events?token=${encodeURIComponent(app.token)}`, { signal: ctl.signal })
  assert.equal(res.status, 200)
  const reader = res.body!.getReader()
  const dec = new TextDecoder()
  let buf = ''
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        buf += dec.decode(value, { stream: true })
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n')
          if (!data) continue
          const e = JSON.parse(data) as { type: string; job?: JobInfo; result?: unknown }
          if (e.type === 'job:completed' && e.job?.kind === 'refresh') refreshes.push(e.result as RefreshResult)
        }
      }
    } catch {
      // aborted at the end
    }
  })()
  return () => ctl.abort()
}

interface EventRow {
  sample_id: number
  run_id: number | null
  action: string
  class_idx: number | null
  undoes: number | null
}
function reviewEvents(projectFile: string): EventRow[] {
  const db = new Database(projectFile, { readonly: true, fileMustExist: true })
  try {
    return db.prepare('SELECT sample_id, run_id, action, class_idx, undoes FROM review_events ORDER BY id').all() as EventRow[]
  } finally {
    db.close()
  }
}

async function until<T>(what: string, fn: () => Promise<T | false | null | undefined> | T | false | null | undefined, ms = 60_000): Promise<T> {
  for (const t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 100))) {
    const v = await fn()
    if (v) return v
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`)
  }
}

before(async () => {
  if (skip) return
  app = await startApp()
  stopEvents = await listen()
})
after(async () => {
  stopEvents?.()
  if (app) await app.close()
})

const evidence = (name: string, fn: () => Promise<void>): Promise<void> => withEvidence(app, `review-loop-${name}`, fn)

/** The Review list filtered to the run's flagged samples (any status); returns the cursor tile. */
async function flaggedList() {
  const { page } = app
  await page.getByLabel('Status', { exact: true }).selectOption('')
  await page.getByLabel('Flagged', { exact: true }).selectOption('yes')
  const cur = page.locator('.tile.cur')
  await cur.waitFor()
  return cur
}

test(
  '30 decisions by keyboard with updates every 10: the list follows the new runs, decisions stand, the changes are counted',
  { skip: skip ?? false, timeout: 300_000 },
  () =>
    evidence('loop', async () => {
      const { page } = app
      await page.goto(app.url)
      await page.getByRole('button', { name: 'Open the demo project' }).click()
      await page.waitForURL(/#\/review/, { timeout: 200_000 })
      await page.locator('.tile.cur').waitFor({ timeout: 30_000 })
      const { project } = await call<{ project: { path: string; classes: { idx: number; name: string }[] } }>('currentProject')
      const className = (i: number | null): string => (i === null ? 'excluded' : project.classes.find((c) => c.idx === i)!.name)
      const firstRun = (await call<{ runId: number }>('querySamples', { flagged: true, limit: 1 })).runId

      await page.locator('#reviewer').fill('Loop Tester')
      await page.keyboard.press('Enter')
      const every = page.getByLabel('Update suggestions every N decisions (0 = off)')
      assert.equal(await every.inputValue(), '25', 'the default')
      await every.fill('10')
      await every.press('Enter')
      await page.getByText('next update in 10 decisions').waitFor()
      await page.locator('body').click({ position: { x: 5, y: 300 } })

      // 30 decisions by keyboard, one after another as the cursor moves on; updates run meanwhile.
      const keys = ['a', 'k', 'a', '2', 'a', 'x'] as const
      const decided = new Map<number, { key: string; given: string }>()
      let switchedInView = 0
      const cur = page.locator('.tile.cur')
      while (decided.size < 30) {
        const id = Number(await cur.getAttribute('data-sample-id'))
        const cls = (await cur.getAttribute('class')) ?? ''
        if (!cls.includes('unreviewed') || decided.has(id)) {
          await page.keyboard.press('Enter')
          await until('the next unreviewed sample', async () => Number(await cur.getAttribute('data-sample-id')) !== id, 10_000)
          continue
        }
        const key = keys[decided.size % keys.length]!
        decided.set(id, { key, given: await cur.locator('.lab').first().innerText() })
        const runBefore = refreshes.length
        await page.keyboard.press(key)
        await until('the cursor to move on', async () => Number(await cur.getAttribute('data-sample-id')) !== id, 10_000)
        if (refreshes.length > runBefore) switchedInView++
      }
      console.log(`# 30 decisions made; ${refreshes.length} update(s) completed meanwhile (${switchedInView} while a decision was on its way)`)

      // The 30th decision starts the third update; wait for every update to be done and shown.
      const jobs = await until(
        'the updates to finish',
        async () => {
          const { jobs } = await call<{ jobs: JobInfo[] }>('listJobs')
          const mine = jobs.filter((j) => j.kind === 'refresh')
          return mine.length >= 3 && mine.every((j) => j.status !== 'running') && refreshes.length === mine.length && mine
        },
        120_000,
      )
      assert.ok(
        jobs.every((j) => j.status === 'completed'),
        jobs.map((j) => `${j.label}: ${j.status} ${j.error ?? ''}`).join('; '),
      )
      const last = refreshes.at(-1)!
      assert.notEqual(last.run.id, firstRun, 'a new run')
      assert.equal(refreshes[0]!.fromRunId, firstRun, 'the first update starts from the run in view')
      for (let i = 1; i < refreshes.length; i++) assert.equal(refreshes[i]!.fromRunId, refreshes[i - 1]!.run.id, 'each update from the one before')
      assert.equal(last.reviewed, 30, 'the last update trained on all 30 decisions (those made during earlier updates included)')

      // On screen: the count from the job's result, and the run it made.
      const result = page.getByTestId('feedback-result')
      await result.filter({ hasText: `run ${last.run.id} (from run ${last.fromRunId})` }).waitFor()
      const changedText = `Your decisions changed ${last.changed} suggestion${last.changed === 1 ? '' : 's'} (${last.newlyFlagged} newly flagged, ${last.unflagged} no longer flagged)`
      assert.ok((await result.innerText()).includes(changedText), `${await result.innerText()} shows ${changedText}`)
      console.log(`# ${changedText}; runs ${refreshes.map((r) => `${r.fromRunId}->${r.run.id} (${r.changed})`).join(', ')}`)

      // The list is the new run's: its flagged samples in its order (what the API lists for "latest"),
      // the grid showing a window of it, plus at most the sample in view when the update unflagged it.
      const api = await call<{ runId: number; total: number; items: SampleRow[] }>('querySamples', { flagged: true, sort: 'rank', limit: 5000 })
      assert.equal(api.runId, last.run.id)
      const apiIds = api.items.map((r) => r.id)
      const tiles = page.locator('[data-sample-id]')
      const curId = Number(await cur.getAttribute('data-sample-id'))
      await until('the grid to show the new run', async () => {
        const ids = (
          await tiles.evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-index')), Number(e.getAttribute('data-sample-id'))]))
        )
          .sort((a, b) => a[0]! - b[0]!)
          .map((p) => p[1]!)
        const extra = ids.filter((id) => !apiIds.includes(id))
        const rest = ids.filter((id) => apiIds.includes(id))
        const start = apiIds.indexOf(rest[0]!)
        return (
          rest.length >= Math.min(8, apiIds.length) &&
          (extra.length === 0 || (extra.length === 1 && extra[0] === curId)) &&
          JSON.stringify(rest) === JSON.stringify(apiIds.slice(start, start + rest.length))
        )
      })
      await page.getByText(`${api.total} samples`).first().waitFor()
      // The counter keeps counting the decisions after the updates unflagged them: 30 reviewed, out
      // of 30 plus the new run's flags nobody has reviewed.
      const prog = await call<{ reviewed: number; flagged: number; flaggedReviewed: number }>('reviewProgress', {})
      assert.equal(prog.reviewed, 30)
      await page
        .getByTestId('review-counter')
        .filter({ hasText: `30 / ${30 + prog.flagged - prog.flaggedReviewed}` })
        .waitFor()

      // The changed count, recounted here from the two runs: unreviewed samples whose suggestion
      // (refined class or flag) differs.
      const all = async (runId: number) =>
        new Map((await call<{ items: SampleRow[] }>('querySamples', { runId, limit: 5000 })).items.map((r) => [r.id, r] as const))
      const before = await all(last.fromRunId)
      const after = await all(last.run.id)
      let changed = 0
      let newly = 0
      let unflagged = 0
      for (const [id, a] of after) {
        const b = before.get(id)
        if (!b || a.status !== 'unreviewed') continue
        if (a.refined !== b.refined || a.flagged !== b.flagged) changed++
        if (!b.flagged && a.flagged) newly++
        if (b.flagged && !a.flagged) unflagged++
      }
      assert.deepEqual([changed, newly, unflagged], [last.changed, last.newlyFlagged, last.unflagged])

      // Every decision stands: in the log (30, nothing undone), through the API and on screen.
      const events = reviewEvents(project.path)
      assert.equal(events.length, 30)
      assert.ok(events.every((e) => e.undoes === null))
      const rows = (await call<{ items: SampleRow[] }>('querySamples', { ids: [...decided.keys()], limit: 100 })).items
      assert.equal(rows.length, 30)
      const expected = new Map<number, { status: string; final: string }>()
      for (const e of events) {
        const d = decided.get(e.sample_id)
        assert.ok(d, `sample ${e.sample_id} was decided in this test`)
        const actions: Record<string, 'accept' | 'keep' | 'relabel' | 'exclude'> = { a: 'accept', k: 'keep', '2': 'relabel', x: 'exclude' }
        const action = actions[d.key]!
        assert.equal(e.action, action)
        let final: string
        if (action === 'accept') {
          // The suggestion of the run in view at that moment (its run is recorded with the decision).
          const inRun = (await call<{ items: SampleRow[] }>('querySamples', { runId: e.run_id, ids: [e.sample_id], limit: 1 })).items[0]!
          assert.equal(e.class_idx, inRun.refined)
          final = className(e.class_idx)
        } else if (action === 'keep') final = d.given
        else if (action === 'relabel') final = className(1)
        else final = 'excluded'
        expected.set(e.sample_id, { status: { accept: 'accepted', keep: 'kept', relabel: 'relabelled', exclude: 'excluded' }[action], final })
      }
      for (const r of rows) {
        const want = expected.get(r.id)!
        assert.equal(r.status, want.status, `sample ${r.id}`)
        assert.equal(className(r.final), want.final, `sample ${r.id}`)
        // The new run trained on the decision: not flagged again. (An excluded sample, or one of the
        // test split, is not trained on: the run predicts it like any other and may flag it; its
        // decision stands all the same, as checked above.)
        if (want.status !== 'excluded' && r.split === 'train') assert.equal(after.get(r.id)?.flagged, false, `sample ${r.id} is not flagged again`)
      }
      await page.getByLabel('Status', { exact: true }).selectOption('reviewed')
      await page.getByLabel('Flagged', { exact: true }).selectOption('all')
      await page.getByText('30 samples').first().waitFor()
      // Walk the list: every tile is one of the 30, with its status and final label.
      const seen = new Set<number>()
      for (let i = 0; i < 30; i++) {
        await until('the cursor on the next tile', async () => Number(await cur.getAttribute('data-index')) === i, 10_000)
        const id = Number(await cur.getAttribute('data-sample-id'))
        const want = expected.get(id)
        assert.ok(want, `tile ${id} is a decided sample`)
        seen.add(id)
        assert.ok(((await cur.getAttribute('class')) ?? '').includes(want.status), `tile ${id} shows ${want.status}`)
        assert.equal(await cur.getByTestId('tile-label').innerText(), want.final, `tile ${id} shows its final label`)
        await page.keyboard.press('l')
      }
      assert.equal(seen.size, 30)
      await screenshot(page, 'review-loop')

      // The setting is remembered.
      await page.reload()
      await page.locator('.tile.cur').waitFor()
      assert.equal(await page.getByLabel('Update suggestions every N decisions (0 = off)').inputValue(), '10')
      assert.deepEqual(app.problems, [])
    }),
)

test(
  'the button updates the suggestions; the sample in view stays selected and shown even when the update takes it off the list',
  { skip: skip ?? false, timeout: 120_000 },
  () =>
    evidence('button', async () => {
      const { page } = app
      await page.getByLabel('Update suggestions every N decisions (0 = off)').fill('0')
      await page.getByLabel('Update suggestions every N decisions (0 = off)').press('Enter')
      await page.getByText('automatic updates off').waitFor()
      // The flagged list; a sample decided now stays listed (as flagged by the run in view), and the
      // next update does not flag it again: the cursor goes back to it before the update.
      const cur = await flaggedList()
      await page.locator('body').click({ position: { x: 5, y: 300 } })
      const id = Number(await cur.getAttribute('data-sample-id'))
      await page.keyboard.press('k')
      await until(
        'the decision saved',
        async () => reviewEvents((await call<{ project: { path: string } }>('currentProject')).project.path).length === 31,
      )
      await page.keyboard.press('j')
      await until('back on the decided sample', async () => Number(await cur.getAttribute('data-sample-id')) === id)
      const n = refreshes.length
      await page.getByRole('button', { name: 'Learn from my decisions' }).click()
      await until('the update', () => refreshes.length === n + 1)
      const r = refreshes.at(-1)!
      await page
        .getByTestId('feedback-result')
        .filter({ hasText: `run ${r.run.id}` })
        .waitFor()
      // The decided sample is not flagged in the new run, yet it is still the one in view.
      const row = (await call<{ items: SampleRow[] }>('querySamples', { runId: r.run.id, ids: [id], limit: 1 })).items[0]!
      assert.equal(row.flagged, false)
      assert.equal(row.status, 'kept')
      assert.equal(Number(await cur.getAttribute('data-sample-id')), id)
      await page.getByTestId('pinned-note').waitFor()
      // Its suggestion in the new run is the decision (clamped): the detail says so, no "100% confident".
      await page.getByTestId('suggestion-source').filter({ hasText: 'from your team’s decision' }).waitFor()
      // Moving on lets it go: the list is the new run's flagged samples again.
      await page.keyboard.press('l')
      await page.getByTestId('pinned-note').waitFor({ state: 'detached' })
      assert.equal(await page.locator(`[data-sample-id="${id}"]`).count(), 0)
      const flagged = await call<{ total: number }>('querySamples', { flagged: true, limit: 1 })
      await page.getByText(`${flagged.total} samples`).first().waitFor()
    }),
)

test(
  'least certain first: the hint beside "Learn from my decisions" switches the queue, the grid follows the margin order, and the choice is remembered',
  { skip: skip ?? false, timeout: 120_000 },
  () =>
    evidence('order', async () => {
      const { page } = app
      const order = page.getByTestId('queue-order')
      assert.equal(await order.inputValue(), 'certain', 'the default queue: most certain first')
      await page.getByTestId('feedback-order-hint').getByRole('button', { name: 'Show least certain first' }).click()
      assert.equal(await order.inputValue(), 'uncertain')
      await page.getByTestId('feedback-order-hint').waitFor({ state: 'detached' })
      // The grid shows the flagged samples as the API lists them least certain first: the trusted
      // labels the given one contradicts first (clamped, as in the default order), then by the
      // margin between the two most likely classes, recomputed here from each sample's top two.
      const api = await call<{ runId: number; items: SampleRow[] }>('querySamples', { flagged: true, sort: 'uncertain', limit: 5000 })
      const isTrusted = (r: SampleRow) => r.trusted !== null && r.refined === r.trusted
      const nTrusted = api.items.filter(isTrusted).length
      assert.ok(api.items.slice(0, nTrusted).every(isTrusted), `trusted corrections first (${nTrusted})`)
      const rest = api.items.slice(nTrusted, nTrusted + 6)
      const margins = await Promise.all(
        rest.map(async (r) => {
          const d = await call<{ top: { prob: number }[] }>('getSample', { sampleId: r.id, runId: api.runId, neighbours: 0 })
          return d.top[0]!.prob - (d.top[1]?.prob ?? 0)
        }),
      )
      assert.deepEqual(
        margins,
        [...margins].sort((a, b) => a - b),
      )
      const want = api.items.slice(0, 6).map((r) => r.id)
      const tiles = page.locator('[data-sample-id]')
      await until('the grid in the least-certain order', async () => {
        const ids = (
          await tiles.evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-index')), Number(e.getAttribute('data-sample-id'))]))
        )
          .sort((a, b) => a[0]! - b[0]!)
          .map((p) => p[1]!)
        return JSON.stringify(ids.slice(0, 6)) === JSON.stringify(want)
      })
      await page.reload()
      await page.locator('.tile.cur').waitFor()
      assert.equal(await page.getByTestId('queue-order').inputValue(), 'uncertain')
      const firstOpen = api.items.find((r) => r.status === 'unreviewed')!.id
      await until(
        'the cursor on the least certain unreviewed flag',
        async () => Number(await page.locator('.tile.cur').getAttribute('data-sample-id')) === firstOpen,
        10_000,
      )

      // After an update in this order the sample in view stays, and the next decision moves to the
      // head of the re-ranked queue (where the simulation's inspector goes), not to the next tile.
      const cur = page.locator('.tile.cur')
      await page.locator(`[data-sample-id="${rest[3]!.id}"]`).click()
      await page.locator('body').click({ position: { x: 5, y: 300 } })
      const inView = Number(await cur.getAttribute('data-sample-id'))
      const n = refreshes.length
      await page.getByRole('button', { name: 'Learn from my decisions' }).click()
      await until('the update', () => refreshes.length === n + 1)
      await page
        .getByTestId('feedback-result')
        .filter({ hasText: `run ${refreshes.at(-1)!.run.id}` })
        .waitFor()
      assert.equal(Number(await cur.getAttribute('data-sample-id')), inView, 'the sample in view stays')
      await page.keyboard.press('k')
      const head = (await call<{ items: SampleRow[] }>('querySamples', { flagged: true, sort: 'uncertain', limit: 5000 })).items.find(
        (r) => r.status === 'unreviewed' && r.id !== inView,
      )!
      await until('the cursor at the head of the re-ranked queue', async () => Number(await cur.getAttribute('data-sample-id')) === head.id, 10_000)

      // Export then says which final-label rule that order counts on, until the suggestion is taken.
      await page.getByRole('link', { name: 'Export' }).click()
      const hint = page.getByTestId('export-order-hint')
      await hint.waitFor()
      await page.getByLabel('Take the suggestion for flagged samples nobody reviewed').check()
      await hint.waitFor({ state: 'detached' })
      assert.deepEqual(app.problems, [])
    }),
)

test(
  'after a decision the queue moves to the next sample nobody has decided, never onto a decided one (a key there would replace its decision)',
  { skip: skip ?? false, timeout: 120_000 },
  () =>
    evidence('advance', async () => {
      const { page } = app
      await page.getByRole('link', { name: 'Review' }).click()
      const cur = await flaggedList()
      const tiles = page.locator('[data-sample-id]')
      const shown = async (): Promise<number[]> =>
        (await tiles.evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-index')), Number(e.getAttribute('data-sample-id'))])))
          .sort((a, b) => a[0]! - b[0]!)
          .map((p) => p[1]!)
      const ids = await shown()
      const rows = (await call<{ items: SampleRow[] }>('querySamples', { ids, limit: ids.length })).items
      const open = new Set(rows.filter((r) => r.status === 'unreviewed').map((r) => r.id))
      const at = ids.findIndex((_, j) => [0, 1, 2].every((k) => open.has(ids[j + k]!)))
      assert.ok(at >= 0, 'three undecided samples side by side in the grid')
      const [a, b, c] = ids.slice(at, at + 3) as [number, number, number]
      const project = (await call<{ project: { path: string } }>('currentProject')).project.path
      const decidedCount = () => reviewEvents(project).filter((e) => e.sample_id === b).length
      // Decide the middle one first, then the one before it: the cursor skips the decided middle.
      await page.locator(`[data-sample-id="${b}"]`).click()
      await page.locator('body').click({ position: { x: 5, y: 300 } })
      await page.keyboard.press('k')
      await until('the decision on the middle sample saved', () => decidedCount() === 1)
      await page.locator(`[data-sample-id="${a}"]`).click()
      await page.locator('body').click({ position: { x: 5, y: 300 } })
      await page.keyboard.press('k')
      await until('the cursor past the decided sample', async () => Number(await cur.getAttribute('data-sample-id')) === c, 10_000)
      // Walking decided samples on purpose (Status: kept) moves to the next row, decided or not.
      await page.getByLabel('Status', { exact: true }).selectOption('kept')
      await cur.waitFor()
      const keptIds = await shown()
      assert.ok(keptIds.includes(a) && keptIds.includes(b))
      assert.equal(decidedCount(), 1, 'the middle sample was decided once')
      assert.deepEqual(app.problems, [])
    }),
)

test(
  'undo of a decision the last update trained on brings the sample back into view, and says its suggestion is that decision until the next update',
  { skip: skip ?? false, timeout: 120_000 },
  () =>
    evidence('undo', async () => {
      const { page } = app
      const cur = await flaggedList()
      await page.locator('body').click({ position: { x: 5, y: 300 } })
      // Decide the sample in view (keep its given label), then update.
      const id = Number(await cur.getAttribute('data-sample-id'))
      const project = (await call<{ project: { path: string } }>('currentProject')).project.path
      const events = () => reviewEvents(project).filter((e) => e.sample_id === id)
      await page.keyboard.press('k')
      await until('the decision saved', () => events().length === 1)
      const n = refreshes.length
      await page.getByRole('button', { name: 'Learn from my decisions' }).click()
      await until('the update', () => refreshes.length === n + 1)
      const run = refreshes.at(-1)!.run.id
      await page
        .getByTestId('feedback-result')
        .filter({ hasText: `run ${run}` })
        .waitFor()
      // The new run trained on it: not flagged there, so not in the flagged list once the cursor moves on.
      await page.keyboard.press('l')
      await until('the decided sample off the list', async () => (await page.locator(`[data-sample-id="${id}"]`).count()) === 0, 10_000)
      await page.keyboard.press('z')
      await until('the undo saved', () => events().at(-1)?.action === 'undo')
      await until('the undone sample in view', async () => Number(await cur.getAttribute('data-sample-id')) === id, 10_000)
      await page.getByTestId('pinned-note').filter({ hasText: 'You undid a decision the last update trained on' }).waitFor()
      assert.deepEqual(app.problems, [])
    }),
)

test(
  'a very fast inspector (a key every 40 ms) with an update every 2 decisions never decides a sample twice: a reloaded list keeps the decisions made while it loaded',
  { skip: skip ?? false, timeout: 180_000 },
  () =>
    evidence('fast', async () => {
      const { page } = app
      await page.getByRole('link', { name: 'Review' }).click()
      const cur = await flaggedList()
      await page.getByTestId('queue-order').selectOption('uncertain')
      const every = page.getByLabel('Update suggestions every N decisions (0 = off)')
      await every.fill('2')
      await every.press('Enter')
      await cur.waitFor()
      await page.locator('body').click({ position: { x: 5, y: 300 } })
      const project = (await call<{ project: { path: string } }>('currentProject')).project.path
      const before = reviewEvents(project).length
      const n = refreshes.length
      for (let i = 0; i < 30; i++) {
        await page.keyboard.press(i % 2 ? 'k' : 'a')
        await page.waitForTimeout(40)
      }
      await until('the 30 decisions saved', () => reviewEvents(project).length === before + 30)
      await until('the updates done', () => refreshes.length > n)
      const mine = reviewEvents(project).slice(before)
      const twice = [...new Set(mine.map((e) => e.sample_id))].filter((id) => mine.filter((e) => e.sample_id === id).length > 1)
      assert.deepEqual(
        twice,
        [],
        `no sample decided twice: ${JSON.stringify(mine.filter((e) => twice.includes(e.sample_id)))} of ${JSON.stringify(mine.map((e) => [e.sample_id, e.action, e.undoes]))}`,
      )
      await every.fill('0')
      await every.press('Enter')
      assert.deepEqual(app.problems, [])
    }),
)
