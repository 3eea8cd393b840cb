import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createEngine } from '../../../electron/engine/train/engine.ts'
import { AUTO_CANDIDATES, selectByValidation } from '../../../electron/engine/train/selection.ts'
import type { FeatureMatrix } from '../../../electron/engine/train/types.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

/** Gaussian classes in 24 dimensions, half of the labels replaced by a uniformly drawn class. */
function noisyClusters(seed: number, n: number, d: number, k: number): { x: FeatureMatrix; y: Int32Array } {
  const rng = createRng(seed)
  const centres = Array.from({ length: k }, () => Float32Array.from({ length: d }, () => 0.9 * rng.normal()))
  const data = new Float32Array(n * d)
  const y = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const c = i % k
    y[i] = rng.next() < 0.5 ? rng.int(k) : c
    for (let j = 0; j < d; j++) data[i * d + j] = centres[c]![j]! + rng.normal()
  }
  return { x: { data, n, d }, y }
}

test('the lambda path ends per candidate (patience or clearly past its best) and scores the visited lambdas exactly as the whole-grid search does', async () => {
  const engine = await createEngine('ort')
  try {
    const k = 4
    const { x, y } = noisyClusters(3, 1200, 24, k)
    const opts = { candidates: AUTO_CANDIDATES, seed: 1 }
    const whole = await selectByValidation(engine, x, y, k, { ...opts, patience: 0 })
    const path = await selectByValidation(engine, x, y, k, opts)
    assert.equal(whole.visited.length, whole.grid.length)
    assert.ok(path.fits < whole.fits, `${path.fits} fits on the path vs ${whole.fits} on the whole grid`)
    const at = (r: typeof whole, c: string, l: number) => r.scores.find((s) => s.candidate === c && s.lambda === l)
    for (const c of AUTO_CANDIDATES) {
      const mine = path.scores.filter((s) => s.candidate === c)
      assert.ok(mine.length >= 1)
      // The same folds, fits and warm starts: every score on the path is the whole grid's.
      for (const s of mine) assert.equal(s.score, at(whole, c, s.lambda)!.score, `${c} at ${s.lambda}`)
      // Its best is the best of the lambdas it was scored on (the stronger one on ties).
      let best = mine[0]!
      for (const s of mine) if (s.score > best.score) best = s
      assert.equal(path.best[c]!.lambda, best.lambda)
      // A path whose best is still the strongest lambda never ends before the search does.
      if (mine.indexOf(best) === 0) assert.equal(mine.length, path.visited.length, `${c}: best at the first lambda`)
      // It ended at patience 2 after its best, or earlier with a score below its best.
      const last = mine[mine.length - 1]!
      const since = mine.length - 1 - mine.indexOf(best)
      if (last.lambda !== path.grid[path.grid.length - 1])
        assert.ok(since === 2 || (since === 1 && last.score < best.score), `${c}: ended ${since} lambdas after its best`)
    }
    assert.equal(path.visited.length, Math.max(...AUTO_CANDIDATES.map((c) => path.scores.filter((s) => s.candidate === c).length)))
  } finally {
    await engine.dispose()
  }
})
