/**
 * Insights through the service: before features the map says 'no-features' (no error) and
 * computeMap refuses; on the demo the map is a job whose result is stored beside the project (a
 * second request is answered from the file: same computedAt, `cached`), the points carry the run's
 * flags, and the noise estimate reports what its trusted figure is measured on.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createService, type Service } from '../../electron/service/service.ts'
import { mapCacheFile } from '../../electron/engine/insights/map-cache.ts'
import type { MapInfo, OutputOf, ProjectInfo } from '../../shared/contract.ts'

let dir: string
let svc: Service

async function finished<T>(ref: unknown): Promise<T> {
  const { jobId } = ref as { jobId: string }
  const result = await svc.jobs.wait(jobId)
  const job = svc.jobs.get(jobId)!
  assert.equal(job.status, 'completed', `${job.kind} job ${job.status}: ${job.error}`)
  return result as T
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'qc-insights-'))
  svc = createService({ dataDir: join(dir, 'data'), progressIntervalMs: 0 })
})
after(async () => {
  await svc.close()
  rmSync(dir, { recursive: true, force: true })
})

test('before features: the map is empty with status no-features, and computeMap says what to do first', async () => {
  await svc.call('createProject', { name: 'empty' })
  const map = (await svc.call('embeddingMap', { method: 'umap' })) as OutputOf<'embeddingMap'>
  assert.equal(map.status, 'no-features')
  assert.deepEqual(map.points, [])
  await assert.rejects(svc.call('computeMap', {}), (e: { code?: string; message: string }) => {
    assert.equal(e.code, 'conflict')
    assert.match(e.message, /extract features/)
    return true
  })
})

test('on the demo: the map is computed once as a job, stored beside the project, and read back with the run flags', async () => {
  const project = await finished<ProjectInfo>(await svc.call('createDemoProject', { perClass: 8, seed: 2 }))
  const before = (await svc.call('embeddingMap', { method: 'umap' })) as OutputOf<'embeddingMap'>
  assert.equal(before.status, 'not-computed')
  assert.equal(before.points.length, 0)

  const phases = new Set<string>()
  const off = svc.subscribe((e) => {
    if (e.type === 'job:progress' && e.job.kind === 'map') phases.add(e.job.progress!.phase)
  })
  const first = await finished<MapInfo>(await svc.call('computeMap', {}))
  off()
  assert.deepEqual([...phases], ['map'])
  assert.equal(first.cached, false)
  assert.equal(first.total, 40)
  assert.equal(first.fitted, 40)
  assert.ok(existsSync(mapCacheFile(project.path, first.backboneId)))

  const second = await finished<MapInfo>(await svc.call('computeMap', {}))
  assert.equal(second.cached, true, 'the stored map is used')
  assert.equal(second.computedAt, first.computedAt, 'nothing recomputed')

  const map = (await svc.call('embeddingMap', { method: 'umap' })) as OutputOf<'embeddingMap'>
  assert.equal(map.status, 'ready')
  assert.equal(map.method, 'umap')
  assert.equal(map.points.length, 40)
  assert.equal(map.info?.computedAt, first.computedAt)
  const progress = (await svc.call('reviewProgress', {})) as { flagged: number }
  assert.ok(progress.flagged > 0, 'the demo run flags some samples')
  assert.equal(map.points.filter((p) => p.flagged).length, progress.flagged, 'every flagged sample of the run is marked')
  for (const p of map.points.filter((q) => q.flagged)) assert.notEqual(p.refined, p.given, `sample ${p.id}: flagged means the suggestion differs`)

  const noise = (await svc.call('noiseEstimate', {})) as OutputOf<'noiseEstimate'>
  assert.equal(noise.trustedCount, project.trusted)
  assert.ok(noise.trustedInterval && noise.trustedErrorRate !== null)
  assert.ok(noise.trustedInterval.lo <= noise.trustedErrorRate && noise.trustedErrorRate <= noise.trustedInterval.hi)
})
