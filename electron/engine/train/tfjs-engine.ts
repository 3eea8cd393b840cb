/**
 * The alternative compute engine the product names: TensorFlow.js. `@tensorflow/tfjs-node` is an
 * optional dependency (its native binary cannot be downloaded everywhere); when it cannot be
 * imported, `@tensorflow/tfjs-core` with the wasm backend stands in. Same math as the ort engine
 * (see engine.ts), same row blocks; both must agree on the same inputs (tested).
 */
import type * as TfCore from '@tensorflow/tfjs-core'
import { gatherBatch, loadTargets, type ComputeEngine, type EngineData, type EngineOptions, type LossKind, type RawSums } from './engine.ts'
import type { FeatureMatrix } from './types.ts'

type Tf = typeof TfCore

let loaded: Promise<{ tf: Tf; backend: string }> | undefined

/** Loads tfjs once: tfjs-node when installed, otherwise tfjs-core + the wasm backend. */
export function loadTf(): Promise<{ tf: Tf; backend: string }> {
  loaded ??= (async () => {
    // A variable specifier keeps TypeScript and bundlers from requiring the optional package.
    const nodePkg = '@tensorflow/tfjs-node'
    try {
      const tf = (await import(nodePkg)) as Tf
      return { tf, backend: 'tfjs-node' }
    } catch {
      const tf = await import('@tensorflow/tfjs-core')
      await import('@tensorflow/tfjs-backend-wasm')
      if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend failed to initialise')
      await tf.ready()
      return { tf, backend: 'tfjs wasm' }
    }
  })()
  return loaded
}

interface Block {
  r0: number
  rows: number
  x: TfCore.Tensor2D
  t?: TfCore.Tensor2D
}

/** Creates the tfjs engine. */
export async function createTfjsEngine(opts: EngineOptions = {}): Promise<ComputeEngine> {
  const { tf, backend } = await loadTf()
  const blockRows = Math.max(1, opts.blockRows ?? 16384)
  const live = new Set<TfCore.Tensor>()

  function blocksOf(x: FeatureMatrix): Block[] {
    const out: Block[] = []
    for (let r0 = 0; r0 < x.n; r0 += blockRows) {
      const rows = Math.min(blockRows, x.n - r0)
      const t = tf.tensor2d(x.data.subarray(r0 * x.d, (r0 + rows) * x.d), [rows, x.d])
      live.add(t)
      out.push({ r0, rows, x: t })
    }
    return out
  }

  /** One block's raw sums (formulas in engine.ts). */
  function blockSums(x: TfCore.Tensor2D, t: TfCore.Tensor2D, W: TfCore.Tensor2D, b: TfCore.Tensor1D, loss: LossKind, q: number) {
    return tf.tidy(() => {
      const ls = tf.logSoftmax(tf.add(tf.matMul(x, W), b) as TfCore.Tensor2D)
      const p = tf.exp(ls)
      let lsum: TfCore.Tensor
      let dz: TfCore.Tensor2D
      if (loss === 'ce') {
        lsum = tf.sum(tf.mul(t, ls), 1)
        dz = tf.sub(p, t)
      } else {
        const a = tf.mul(t, tf.exp(tf.mul(ls, q)))
        lsum = tf.sum(a, 1)
        dz = tf.sub(tf.mul(tf.sum(a, 1, true), p), a)
      }
      return { lsum, gw: tf.matMul(x, dz, true, false), gb: tf.sum(dz, 0) }
    })
  }

  async function predictBlocks(blocks: Block[], n: number, d: number, k: number, w: Float32Array, b: Float32Array) {
    const W = tf.tensor2d(w, [d, k])
    const B = tf.tensor1d(b)
    const out = new Float32Array(n * k)
    try {
      for (const bl of blocks) {
        const p = tf.tidy(() => tf.softmax(tf.add(tf.matMul(bl.x, W), B) as TfCore.Tensor2D))
        out.set((await p.data()) as Float32Array, bl.r0 * k)
        p.dispose()
      }
    } finally {
      W.dispose()
      B.dispose()
    }
    return out
  }

  const engine: ComputeEngine = {
    name: 'tfjs',
    backend,
    async load(x: FeatureMatrix, k: number): Promise<EngineData> {
      const { n, d } = x
      const held = loadTargets(x, k)
      const blocks = blocksOf(x)
      const freeTargets = () => {
        for (const bl of blocks) {
          if (bl.t) {
            live.delete(bl.t)
            bl.t.dispose()
            bl.t = undefined
          }
        }
      }
      return {
        n,
        d,
        k,
        async setTargets(t, loss, q) {
          freeTargets()
          const { targets } = held.set(t, loss, q)
          for (const bl of blocks) {
            bl.t = tf.tensor2d(targets.subarray(bl.r0 * k, (bl.r0 + bl.rows) * k), [bl.rows, k])
            live.add(bl.t)
          }
        },
        async sums(w, b, rows): Promise<RawSums> {
          const { targets, rowSum, loss: lossKind, q } = held.current()
          const W = tf.tensor2d(w, [d, k])
          const B = tf.tensor1d(b)
          const gw = new Float64Array(d * k)
          const gb = new Float64Array(k)
          let lsum = 0
          let tsum = 0
          const add = async (r: { lsum: TfCore.Tensor; gw: TfCore.Tensor; gb: TfCore.Tensor }) => {
            // Per-row values summed in float64, as in the ort engine.
            const l = (await r.lsum.data()) as Float32Array
            for (let i = 0; i < l.length; i++) lsum += l[i]!
            const g = (await r.gw.data()) as Float32Array
            for (let i = 0; i < g.length; i++) gw[i]! += g[i]!
            const g2 = (await r.gb.data()) as Float32Array
            for (let i = 0; i < k; i++) gb[i]! += g2[i]!
            r.lsum.dispose()
            r.gw.dispose()
            r.gb.dispose()
          }
          try {
            if (rows) {
              const m = rows.length
              const batch = gatherBatch(x, targets, k, rowSum, rows)
              const { xb, tb } = batch
              tsum = batch.tsum
              const X = tf.tensor2d(xb, [m, d])
              const T = tf.tensor2d(tb, [m, k])
              try {
                await add(blockSums(X, T, W, B, lossKind, q))
              } finally {
                X.dispose()
                T.dispose()
              }
            } else {
              for (const bl of blocks) await add(blockSums(bl.x, bl.t!, W, B, lossKind, q))
              for (let i = 0; i < n; i++) tsum += rowSum[i]!
            }
          } finally {
            W.dispose()
            B.dispose()
          }
          return { loss: held.loss(lsum, tsum), gw, gb }
        },
        probs(w, b) {
          return predictBlocks(blocks, n, d, k, w, b)
        },
        async dispose() {
          freeTargets()
          held.clear()
          for (const bl of blocks) {
            live.delete(bl.x)
            bl.x.dispose()
          }
          blocks.length = 0
        },
      }
    },
    async predict(x, w, b, k) {
      const blocks = blocksOf(x)
      try {
        return await predictBlocks(blocks, x.n, x.d, k, w, b)
      } finally {
        for (const bl of blocks) {
          live.delete(bl.x)
          bl.x.dispose()
        }
      }
    },
    async multiply(x, b, m) {
      const y = tf.tidy(() => tf.matMul(tf.tensor2d(x.data, [x.n, x.d]), tf.tensor2d(b, [x.d, m])))
      try {
        return Float32Array.from(await y.data())
      } finally {
        y.dispose()
      }
    },
    async gram(x) {
      const g = tf.tidy(() => {
        const t = tf.tensor2d(x.data, [x.n, x.d])
        return tf.matMul(t, t, false, true)
      })
      try {
        return Float64Array.from(await g.data())
      } finally {
        g.dispose()
      }
    },
    async dispose() {
      for (const t of live) t.dispose()
      live.clear()
    },
  }
  return engine
}
