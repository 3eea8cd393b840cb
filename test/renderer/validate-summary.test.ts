/** The Validate screen's estimate and winner rule (renderer/src/validate-summary.ts), in plain Node. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { estimateSweep, sweepWinner } from '../../renderer/src/validate-summary.ts'
import type { RunSummary, ValidationDetail } from '../../shared/contract.ts'

function sweep(part: Partial<ValidationDetail>): ValidationDetail {
  return {
    id: 7,
    status: 'done',
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: null,
    config: {},
    cells: [],
    summary: [],
    best: [],
    noiseModels: [],
    ...part,
  } as unknown as ValidationDetail
}
const cell = (method: string, seconds: number) => ({
  method,
  noiseType: 'symmetric',
  rate: 0.2,
  seed: 0,
  metrics: { seconds },
  identifiable: true,
  chosen: {},
  error: null,
})

test('the estimate uses each method’s measured cells, the mean of all for a method never timed', () => {
  const v = sweep({ cells: [cell('teacher', 2), cell('teacher', 4), cell('sd-1', 10)] as ValidationDetail['cells'] })
  const e = estimateSweep({ teacher: 3, sd: 2, pll: 1 }, v, [])
  assert.ok(e)
  assert.equal(e.seconds, 3 * 3 + 2 * 10 + 1 * (16 / 3))
  assert.match(e.source, /sweep #7/)
})

test('without a sweep, a refinement’s final fit (wall time less its selection) stands for one training', () => {
  const run = {
    id: 1,
    status: 'done',
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:00:20Z',
    selection: { seconds: 15 },
  } as unknown as RunSummary
  assert.equal(estimateSweep({ teacher: 4 }, null, [run])?.seconds, 20)
  assert.equal(estimateSweep({ teacher: 4 }, null, []), null)
})

test('the winner: a win within the seeds’ spread is a tie; methods ranked by settings won', () => {
  const row = (rate: number, method: string, mean: number, std: number) => ({
    noiseType: 'symmetric' as const,
    rate,
    method,
    n: 3,
    mean: { trustedAccuracy: mean },
    std: { trustedAccuracy: std },
  })
  const v = sweep({
    summary: [row(0.2, 'teacher', 0.9, 0.01), row(0.2, 'pll', 0.85, 0.01), row(0.8, 'teacher', 0.5, 0.05), row(0.8, 'pll', 0.52, 0.01)],
    best: [
      { noiseType: 'symmetric', rate: 0.2, method: 'teacher', trustedAccuracy: 0.9 },
      { noiseType: 'symmetric', rate: 0.8, method: 'pll', trustedAccuracy: 0.52 },
    ],
    noiseModels: [
      { noiseType: 'symmetric', rate: 0.2, identifiable: true },
      { noiseType: 'symmetric', rate: 0.8, identifiable: false },
    ],
  })
  const w = sweepWinner(v)
  assert.ok(w)
  assert.deepEqual(
    w.settings.map((s) => [s.method, s.tieWith, s.notIdentifiable]),
    [
      ['teacher', null, false],
      ['pll', 'teacher', true],
    ],
  )
  assert.deepEqual(w.ranked, [
    { method: 'teacher', wins: 1 },
    { method: 'pll', wins: 1 },
  ])
  assert.equal(sweepWinner(sweep({})), null)
  // No training-label figures: nothing said about them.
  assert.deepEqual(
    w.settings.map((s) => s.worseThanGiven),
    [null, null],
  )
  // The winner at 0.2 leaves fewer training labels right than the given ones (82.8% -> 69.8%).
  Object.assign(v.summary[0]!.mean, { givenAccuracy: 0.828, recovery: 0.698 })
  Object.assign(v.summary[3]!.mean, { givenAccuracy: 0.2, recovery: 0.6 })
  // Only against a known truth (otherwise those figures are agreement with the given labels).
  assert.deepEqual(
    sweepWinner(v)!.settings.map((s) => s.worseThanGiven),
    [null, null],
  )
  v.truthKnown = true
  assert.deepEqual(
    sweepWinner(v)!.settings.map((s) => s.worseThanGiven),
    [{ before: 0.828, after: 0.698 }, null],
  )
})
