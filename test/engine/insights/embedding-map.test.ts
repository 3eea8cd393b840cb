/**
 * The Insights map (engine/insights/embedding-map.ts and map-cache.ts): the same seed gives the
 * same map; on separated clusters that a 2-D PCA cannot pull apart (eight classes on orthogonal
 * axes: every direction of the class means carries the same variance), the map keeps each
 * sample's neighbours in its class far more than PCA does, measured by k-NN class agreement in
 * the picture; the samples placed by their nearest fitted neighbours land in their class too; and
 * the cache answers a second request without recomputing (the feature loader is not called again).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { computeEmbeddingMap, type MapFeatures } from '../../../electron/engine/insights/embedding-map.ts'
import { cachedEmbeddingMap, mapCacheFile, mapCacheKey, readCachedMap } from '../../../electron/engine/insights/map-cache.ts'
import { pca2 } from '../../../electron/service/embedding.ts'
import { createRng } from '../../../electron/engine/util/rng.ts'

/** `classes` Gaussian clusters of `per` samples in d dimensions, class c centred on 3 e_c; rows scaled to unit length. */
function clusters(classes: number, per: number, d: number, seed: number): { f: MapFeatures; raw: Float32Array; labels: number[] } {
  const rng = createRng(seed)
  const n = classes * per
  const raw = new Float32Array(n * d)
  const unit = new Float32Array(n * d)
  const labels: number[] = []
  for (let i = 0; i < n; i++) {
    const c = i % classes
    labels.push(c)
    let s = 0
    for (let j = 0; j < d; j++) {
      const v = (j === c ? 3 : 0) + 0.5 * rng.normal()
      raw[i * d + j] = v
      s += v * v
    }
    for (let j = 0; j < d; j++) unit[i * d + j] = raw[i * d + j]! / Math.sqrt(s)
  }
  return { f: { ids: Int32Array.from({ length: n }, (_, i) => i + 1), n, d, unit }, raw, labels }
}

/** Mean over points of the share of their k nearest points in the picture (Euclidean) that have the same class. */
function knnClassAgreement(xy: ArrayLike<number>, labels: readonly number[], k: number): number {
  const n = labels.length
  let sum = 0
  for (let i = 0; i < n; i++) {
    const near: { d: number; j: number }[] = []
    for (let j = 0; j < n; j++) {
      if (j === i) continue
      near.push({ d: (xy[2 * i]! - xy[2 * j]!) ** 2 + (xy[2 * i + 1]! - xy[2 * j + 1]!) ** 2, j })
    }
    near.sort((a, b) => a.d - b.d || a.j - b.j)
    sum += near.slice(0, k).filter((t) => labels[t.j] === labels[i]).length / k
  }
  return sum / n
}

test('the map is deterministic under a seed and changes with it', async () => {
  const { f } = clusters(4, 30, 12, 1)
  const a = await computeEmbeddingMap(f, { seed: 7, nEpochs: 100 })
  const b = await computeEmbeddingMap(f, { seed: 7, nEpochs: 100 })
  const c = await computeEmbeddingMap(f, { seed: 8, nEpochs: 100 })
  assert.deepEqual(a.ids, b.ids)
  assert.deepEqual(a.xy, b.xy)
  assert.notDeepEqual(a.xy, c.xy)
  assert.equal(a.fitted, 120)
  assert.equal(a.placed, 0)
  assert.ok(a.xy.every(Number.isFinite))
})

test('on separated clusters the map keeps neighbours in their class better than PCA (k-NN class agreement, measured)', async () => {
  const { f, raw, labels } = clusters(8, 40, 24, 2)
  // 320 samples, 200 laid out by UMAP, 120 placed by their nearest fitted neighbours.
  const map = await computeEmbeddingMap(f, { seed: 3, fitCap: 200 })
  assert.equal(map.fitted, 200)
  assert.equal(map.placed, 120)
  assert.equal(map.leftOut, 0)
  const mapLabels = map.ids.map((id) => labels[id - 1]!)
  const p = pca2({ backboneId: 1, ids: f.ids as Int32Array, index: new Map(), n: f.n, d: f.d, unit: f.unit, raw }, f.n)
  const pcaLabels = p.ids.map((id) => labels[id - 1]!)
  const k = 10
  const mapScore = knnClassAgreement(map.xy, mapLabels, k)
  const pcaScore = knnClassAgreement(p.xy, pcaLabels, k)
  // The placed points alone: their neighbours in the picture, among all points.
  const placedScore =
    map.ids.slice(map.fitted).reduce((s, _, a) => {
      const i = map.fitted + a
      const near = map.ids
        .map((__, j) => ({ j, d: (map.xy[2 * i]! - map.xy[2 * j]!) ** 2 + (map.xy[2 * i + 1]! - map.xy[2 * j + 1]!) ** 2 }))
        .filter((t) => t.j !== i)
        .sort((x, y) => x.d - y.d)
        .slice(0, k)
      return s + near.filter((t) => mapLabels[t.j] === mapLabels[i]).length / k
    }, 0) / map.placed
  console.log(
    `# k-NN class agreement (k=${k}): UMAP map ${mapScore.toFixed(3)}, placed points ${placedScore.toFixed(3)}, PCA ${pcaScore.toFixed(3)} (PCA explains ${(100 * (p.explained[0]! + p.explained[1]!)).toFixed(1)}% of the variance)`,
  )
  assert.ok(mapScore > pcaScore, `map ${mapScore} should beat PCA ${pcaScore}`)
  // Chance is 1/8: PCA's two components show two of the seven equal directions, the map all eight classes.
  assert.ok(mapScore - pcaScore > 0.2, `map ${mapScore} vs PCA ${pcaScore}: the map should separate clearly better`)
  assert.ok(placedScore > pcaScore, `placed points ${placedScore} vs PCA ${pcaScore}`)
})

test('a project larger than maxPoints: a seeded subsample is shown, the rest left out', async () => {
  const { f } = clusters(3, 40, 8, 4)
  const map = await computeEmbeddingMap(f, { seed: 1, maxPoints: 90, fitCap: 60, nEpochs: 50 })
  assert.equal(map.ids.length, 90)
  assert.equal(new Set(map.ids).size, 90)
  assert.deepEqual([map.fitted, map.placed, map.leftOut, map.total], [60, 30, 30, 120])
})

test('cancelled through the signal, the map stops with CancelledError', async () => {
  const { f } = clusters(4, 50, 16, 5)
  const ac = new AbortController()
  let events = 0
  await assert.rejects(
    computeEmbeddingMap(f, {
      progress: (e) => {
        if (++events === 3) ac.abort()
        assert.equal(e.phase, 'map')
      },
      signal: ac.signal,
    }),
    { name: 'CancelledError' },
  )
})

test('the cache: a second request reads the stored map without loading features again; more features make it stale', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-map-cache-'))
  try {
    const projectPath = join(dir, 'p.qcdb')
    const { f } = clusters(3, 20, 8, 6)
    let loads = 0
    const load = (): MapFeatures => {
      loads++
      return f
    }
    const key = mapCacheKey(1, f.n, { nNeighbors: 8 })
    const first = await cachedEmbeddingMap({ projectPath, key, load })
    assert.equal(first.cached, false)
    assert.equal(loads, 1)
    assert.ok(existsSync(mapCacheFile(projectPath, 1)))
    const second = await cachedEmbeddingMap({ projectPath, key, load })
    assert.equal(second.cached, true)
    assert.equal(loads, 1, 'the features were not loaded again')
    assert.equal(second.map.computedAt, first.map.computedAt)
    assert.deepEqual(second.map.xy, first.map.xy)
    // Another feature count (features extracted since) or other options: not served from the cache.
    assert.equal(readCachedMap(projectPath, mapCacheKey(1, f.n + 1, { nNeighbors: 8 })), null)
    assert.equal(readCachedMap(projectPath, mapCacheKey(1, f.n, { nNeighbors: 8, seed: 1 })), null)
    assert.equal(readCachedMap(projectPath, mapCacheKey(2, f.n, { nNeighbors: 8 })), null)
    const third = await cachedEmbeddingMap({ projectPath, key: mapCacheKey(1, f.n + 1, { nNeighbors: 8 }), load })
    assert.equal(third.cached, false)
    assert.equal(loads, 2)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
