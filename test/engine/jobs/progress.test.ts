import { test } from 'node:test'
import assert from 'node:assert/strict'
import { staged, type ProgressEvent } from '../../../electron/engine/jobs/progress.ts'
import { overallOf } from '../../../electron/service/job-manager.ts'

const STAGES = [
  { key: 'a', phases: ['a'], weight: 1 },
  { key: 'b', phases: ['b', 'sd'], weight: 2 },
  { key: 'c', phases: ['c'], weight: 1 },
]

test('staged: one fraction over all stages, weighted, never going back', () => {
  const seen: ProgressEvent[] = []
  const p = staged((e) => seen.push(e), STAGES)
  p({ phase: 'a', done: 5, total: 10 })
  p({ phase: 'a', done: 10, total: 10 })
  p({ phase: 'b', done: 1, total: 2 })
  p({ phase: 'sd round 2', done: 0, total: 100 }) // an inner phase restarting its count: no step back
  p({ phase: 'unknown', done: 1, total: 1 }) // counts in the current stage
  p({ phase: 'a', done: 0, total: 1 }) // an earlier stage's phase: stages only move forward
  p({ phase: 'c', done: 1, total: 2 })
  const f = seen.map((e) => e.overall!.fraction)
  assert.deepEqual(f, [0.125, 0.25, 0.5, 0.5, 0.75, 0.75, 0.875])
  assert.deepEqual(
    seen.map((e) => e.overall!.stage),
    ['a', 'a', 'b', 'b', 'b', 'b', 'c'],
  )
  assert.deepEqual(seen.at(-1)!.overall, { fraction: 0.875, stage: 'c', step: 3, steps: 3 })
  // The phase's own fields pass through.
  assert.equal(seen[2]!.phase, 'b')
  assert.equal(seen[2]!.done, 1)
})

test('overallOf: the job ETA scales the time so far by what is left; one phase keeps its own ETA', () => {
  const multi = overallOf({ phase: 'select', done: 3, total: 10, overall: { fraction: 0.25, stage: 'choose', step: 5, steps: 8 } }, 10)
  assert.deepEqual(multi, { fraction: 0.25, stage: { key: 'choose', step: 5, steps: 8 }, jobEtaSeconds: 30 })
  // Too early for a guess.
  assert.equal(
    overallOf({ phase: 'demo', done: 0, total: 0, overall: { fraction: 0.01, stage: 'generate', step: 1, steps: 8 } }, 0.5).jobEtaSeconds,
    undefined,
  )
  assert.deepEqual(overallOf({ phase: 'extract', done: 50, total: 200, etaSeconds: 12 }, 4), { fraction: 0.25, jobEtaSeconds: 12 })
  assert.deepEqual(overallOf({ phase: 'demo', done: 0, total: 0 }, 0), {})
})
