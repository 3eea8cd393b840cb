import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lbfgs } from '../../../electron/engine/train/solvers.ts'
import { CancelledError } from '../../../electron/engine/jobs/progress.ts'

/** Rosenbrock in 2-D: minimum 0 at (1, 1), a classic hard valley for quasi-Newton methods. */
async function rosen(w: Float64Array) {
  const [a, b] = [w[0]!, w[1]!]
  const loss = (1 - a) ** 2 + 100 * (b - a * a) ** 2
  const grad = Float64Array.from([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])
  return { loss, grad }
}

test('L-BFGS finds the Rosenbrock minimum from the standard start (-1.2, 1)', async () => {
  const { w, info } = await lbfgs(rosen, Float64Array.from([-1.2, 1]), { gradTol: 1e-8, maxIter: 500 })
  assert.ok(info.converged, info.reason)
  assert.ok(Math.abs(w[0]! - 1) < 1e-5 && Math.abs(w[1]! - 1) < 1e-5, `stopped at ${w[0]}, ${w[1]}`)
})

test('L-BFGS solves an ill-conditioned quadratic to its closed-form minimiser', async () => {
  // f(w) = 1/2 sum_i a_i (w_i - c_i)^2 with condition number 1e4: minimiser w = c.
  const n = 50
  const a = Float64Array.from({ length: n }, (_, i) => 10 ** ((4 * i) / (n - 1)))
  const c = Float64Array.from({ length: n }, (_, i) => Math.sin(i))
  const f = async (w: Float64Array) => {
    let loss = 0
    const grad = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const e = w[i]! - c[i]!
      loss += 0.5 * a[i]! * e * e
      grad[i] = a[i]! * e
    }
    return { loss, grad }
  }
  const { w } = await lbfgs(f, new Float64Array(n), { gradTol: 1e-9, relTol: 0, maxIter: 1000 })
  for (let i = 0; i < n; i++) assert.ok(Math.abs(w[i]! - c[i]!) < 1e-6, `w[${i}] = ${w[i]}, expected ${c[i]}`)
})

test('L-BFGS reports progress per iteration and stops on abort', async () => {
  const ac = new AbortController()
  const seen: number[] = []
  await assert.rejects(
    lbfgs(rosen, Float64Array.from([-1.2, 1]), {
      signal: ac.signal,
      phase: 'teacher',
      progress: (e) => {
        assert.equal(e.phase, 'teacher')
        seen.push(e.done)
        if (e.done === 3) ac.abort()
      },
    }),
    CancelledError,
  )
  assert.deepEqual(seen, [1, 2, 3])
})
