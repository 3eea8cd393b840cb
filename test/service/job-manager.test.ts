import { test } from 'node:test'
import assert from 'node:assert/strict'
import { JobManager } from '../../electron/service/job-manager.ts'
import { CancelledError, throwIfAborted } from '../../electron/engine/jobs/progress.ts'
import type { EngineEvent } from '../../shared/contract.ts'

function collect(m: JobManager): EngineEvent[] {
  const evs: EngineEvent[] = []
  m.subscribe((e) => evs.push(e))
  return evs
}

test('a job reports started, progress and completed with its result', async () => {
  const m = new JobManager(0)
  const evs = collect(m)
  const ref = m.start('import', 'a', 'Import a', async ({ progress }) => {
    for (let i = 1; i <= 3; i++) progress({ phase: 'import', done: i, total: 3 })
    return { added: 3 }
  })
  assert.equal(ref.joined, false)
  assert.deepEqual(await m.wait(ref.jobId), { added: 3 })
  assert.deepEqual(
    evs.map((e) => e.type),
    ['job:started', 'job:progress', 'job:progress', 'job:progress', 'job:completed'],
  )
  const done = evs.at(-1) as Extract<EngineEvent, { type: 'job:completed' }>
  assert.deepEqual(done.result, { added: 3 })
  assert.equal(done.job.status, 'completed')
  assert.equal(done.job.progress?.done, 3)
  assert.equal(m.get(ref.jobId)?.status, 'completed')
})

test('progress is throttled but the last event of a phase always arrives', async () => {
  const m = new JobManager(10_000)
  const evs = collect(m)
  const ref = m.start('extract', 'x', 'x', async ({ progress }) => {
    for (let i = 1; i <= 1000; i++) progress({ phase: 'extract', done: i, total: 1000 })
  })
  await m.wait(ref.jobId)
  const prog = evs.filter((e) => e.type === 'job:progress') as Extract<EngineEvent, { type: 'job:progress' }>[]
  assert.ok(prog.length <= 3, `${prog.length} progress events for 1000 reports`)
  assert.equal(prog.at(-1)?.job.progress?.done, 1000)
})

test('an identical request while the first runs joins it; a different one starts another', async () => {
  const m = new JobManager(0)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  let bodies = 0
  const body = async () => {
    bodies++
    await gate
    return bodies
  }
  const a = m.start('refine', 'pll', 'Refine', body)
  const b = m.start('refine', 'pll', 'Refine', body)
  const c = m.start('refine', 'teacher', 'Refine', body)
  assert.equal(b.joined, true)
  assert.equal(b.jobId, a.jobId)
  assert.notEqual(c.jobId, a.jobId)
  release()
  await Promise.all([m.wait(a.jobId), m.wait(c.jobId)])
  assert.equal(bodies, 2)
  // Once finished, the same request starts a new job.
  const d = m.start('refine', 'pll', 'Refine', async () => 1)
  assert.equal(d.joined, false)
  assert.notEqual(d.jobId, a.jobId)
  await m.wait(d.jobId)
})

test('cancel aborts the signal and reports job:cancelled; a failure reports job:failed with the reason', async () => {
  const m = new JobManager(0)
  const evs = collect(m)
  const ref = m.start('extract', 'c', 'c', async ({ signal }) => {
    for (;;) {
      throwIfAborted(signal, 'extraction')
      await new Promise((r) => setTimeout(r, 5))
    }
  })
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(m.cancel(ref.jobId), true)
  await m.wait(ref.jobId)
  assert.equal(m.get(ref.jobId)?.status, 'cancelled')
  assert.ok(evs.some((e) => e.type === 'job:cancelled' && e.job.id === ref.jobId))
  assert.equal(m.cancel(ref.jobId), false, 'not running any more')
  assert.equal(m.cancel('no-such-job'), false)

  const bad = m.start('import', 'bad', 'bad', async () => {
    throw new Error('/data/x.csv: no such file')
  })
  await m.wait(bad.jobId)
  const failed = evs.find((e) => e.type === 'job:failed' && e.job.id === bad.jobId) as Extract<EngineEvent, { type: 'job:failed' }>
  assert.equal(failed.job.error, '/data/x.csv: no such file')
  const cancelledByError = m.start('import', 'ce', 'ce', async () => {
    throw new CancelledError('import')
  })
  await m.wait(cancelledByError.jobId)
  assert.equal(m.get(cancelledByError.jobId)?.status, 'cancelled')
  assert.equal(m.busy(), false)
})
