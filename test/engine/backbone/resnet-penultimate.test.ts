/**
 * Acceptance (issue 12 part 1): a randomly initialised torchvision ResNet-18, exported to ONNX as
 * the whole classifier (1000 logits), gives 512-d features through the CLI (`qc import` + `qc
 * extract`) and through the service (the app's path), and the values equal the pooled tensor that
 * torch computes separately (a forward hook on model.avgpool, test/fixtures/resnet18.py) on the
 * same preprocessed images.
 *
 * Needs Debian's python3-torch and python3-torchvision (CI installs them); skipped with a message
 * when they are missing. The exported model is cached under test-output/fixtures/.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir, writeImage } from '../import/fixtures.ts'
import { openDb } from '../../../electron/engine/store/db.ts'
import { getBackbone } from '../../../electron/engine/backbone/backbone.ts'
import { loadFeatureMatrix } from '../../../electron/engine/extract/features.ts'
import { decodeImagePixels, inputSize, pixelsToTensor, type PreprocessSpec } from '../../../electron/engine/backbone/preprocess.ts'
import { readNpy, writeNpy } from '../../../electron/engine/util/npy.ts'
import { createService } from '../../../electron/service/service.ts'

const ROOT = new URL('../../../', import.meta.url).pathname
const QC = join(ROOT, 'bin', 'qc.mjs')
const SCRIPT = join(ROOT, 'test', 'fixtures', 'resnet18.py')
const CACHE = join(ROOT, 'test-output', 'fixtures')
const MODEL = join(CACHE, 'resnet18-random.onnx')

/** A python that has torch and torchvision (Debian's first), or null. */
function torchPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch, torchvision'], { encoding: 'utf8' })
    if (r.status === 0) return py
  }
  return null
}
const PY = torchPython()
const skip = PY ? false : 'python3-torch / python3-torchvision missing (apt-get install -y python3-torch python3-torchvision)'

function python(args: string[]): void {
  const r = spawnSync(PY!, [SCRIPT, ...args], { encoding: 'utf8', timeout: 300_000 })
  if (r.status !== 0) throw new Error(`resnet18.py ${args[0]} failed: ${r.stderr || r.stdout}`)
}

function ensureModel(): void {
  if (existsSync(MODEL) && existsSync(join(CACHE, 'resnet18-random.pt'))) return
  mkdirSync(CACHE, { recursive: true })
  python(['export', CACHE])
}

async function images(dir: string): Promise<string[]> {
  const files: string[] = []
  for (let i = 0; i < 6; i++) {
    const f = join(dir, i % 2 ? 'scratch' : 'ok', `img${i}.png`)
    await writeImage(f, i + 1, 40 + 4 * i)
    files.push(f)
  }
  return files
}

/** torch's pooled features for these files, preprocessed by the engine's own code (the order of `files`). */
async function torchPooled(dir: string, files: string[], spec: PreprocessSpec): Promise<Float32Array> {
  const per = inputSize(spec)
  const x = new Float32Array(files.length * per)
  for (let i = 0; i < files.length; i++) pixelsToTensor(await decodeImagePixels(files[i]!, spec), spec, x, i * per)
  const xf = join(dir, 'x.npy')
  const yf = join(dir, 'y.npy')
  writeNpy(xf, x, [files.length, spec.channels, spec.height, spec.width], { force: true })
  python(['pooled', CACHE, xf, yf])
  const y = readNpy(yf)
  assert.deepEqual(y.shape, [files.length, 512])
  return y.data as Float32Array
}

/** Features stored in the project, rows in the order of `files` (matched by path). */
function stored(project: string, backboneId: number, files: string[], root: string): Float32Array {
  const db = openDb(project, { readonly: true })
  try {
    const f = loadFeatureMatrix(db, backboneId)
    assert.equal(f.x.d, 512)
    const paths = db.prepare('SELECT id, path FROM samples').all() as { id: number; path: string }[]
    const row = new Map(Array.from(f.sampleIds, (id, i) => [id, i]))
    const out = new Float32Array(files.length * 512)
    files.forEach((file, i) => {
      const id = paths.find((p) => join(root, p.path) === file)!.id
      out.set(f.x.data.subarray(row.get(id)! * 512, (row.get(id)! + 1) * 512), i * 512)
    })
    return out
  } finally {
    db.close()
  }
}

function assertSame(actual: Float32Array, expected: Float32Array): void {
  assert.equal(actual.length, expected.length)
  let worst = 0
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(1, Math.abs(expected[i]!)))
  assert.ok(worst < 1e-4, `largest difference to torch: ${worst}`)
}

test('ResNet-18 through the CLI: 512-d penultimate features equal to torch’s pooled tensor', { skip, timeout: 600_000 }, async () => {
  ensureModel()
  const dir = tempDir('qc-resnet-')
  const root = join(dir, 'images')
  const files = await images(root)
  const project = join(dir, 'p.qcdb')
  const qc = (args: string[]) => spawnSync(process.execPath, [QC, ...args], { encoding: 'utf8', timeout: 300_000 })
  assert.equal(qc(['import', '--project', project, '--images', root]).status, 0)
  const ex = qc(['extract', '--project', project, '--backbone', MODEL, '--json'])
  assert.equal(ex.status, 0, ex.stderr)
  const out = JSON.parse(ex.stdout) as { backboneId: number; summary: { computed: number } }
  assert.equal(out.summary.computed, 6)
  const listing = qc(['backbones', '--project', project])
  assert.equal(listing.status, 0, listing.stderr)
  assert.match(listing.stdout, /registered: \d+ resnet18-random \[file\]; features: '[^']+' \(penultimate\), 512-d/)
  // Every catalogue entry is listed with its feature tensor and dimension.
  for (const m of ['dinov2-small', 'resnet34-v2']) assert.match(listing.stdout, new RegExp(`catalogue: ${m} — [\\s\\S]*?features: .*, \\d+-d`))

  const db = openDb(project, { readonly: true })
  const row = getBackbone(db, out.backboneId)!
  db.close()
  assert.equal(row.dim, 512, '512 pooled features, not 1000 logits')
  assert.equal(row.featureLayer, 'penultimate')
  assert.equal(row.featurePool, 'gap')
  assertSame(stored(project, row.id, files, root), await torchPooled(dir, files, row.preprocess!))
  // The model file is untouched (features are keyed by its sha256).
  assert.equal(readFileSync(MODEL).length > 40e6, true)
})

test('ResNet-18 through the service (the app): 512-d features equal to torch’s', { skip, timeout: 600_000 }, async () => {
  ensureModel()
  const dir = tempDir('qc-resnet-svc-')
  const root = join(dir, 'images')
  const files = await images(root)
  const svc = createService({ dataDir: join(dir, 'data'), progressIntervalMs: 0 })
  const wait = async (ref: unknown) => svc.jobs.wait((ref as { jobId: string }).jobId)
  try {
    const project = join(dir, 'app.qcdb')
    await svc.call('createProject', { path: project })
    await wait(await svc.call('importFolder', { root }))
    const bb = (await svc.call('addBackboneFile', { path: MODEL })) as { id: number; dim: number; featureTensor: string; featureLayer: string }
    assert.equal(bb.dim, 512)
    assert.equal(bb.featureLayer, 'penultimate')
    assert.ok(bb.featureTensor.length > 0)
    await wait(await svc.call('extractFeatures', { backboneId: bb.id }))
    const listed = (await svc.call('listBackbones', {})) as { backbones: { id: number; features: number; featureTensor: string }[] }
    assert.equal(listed.backbones.find((b) => b.id === bb.id)!.features, 6)
    const db = openDb(project, { readonly: true })
    const spec = getBackbone(db, bb.id)!.preprocess!
    db.close()
    assertSame(stored(project, bb.id, files, root), await torchPooled(dir, files, spec))
  } finally {
    await svc.close()
  }
})
