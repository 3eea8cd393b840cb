import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { catalogue, catalogueEntry, downloadCatalogueModel, type CatalogueEntry } from '../../../electron/engine/backbone/catalogue.ts'
import { parsePreprocess } from '../../../electron/engine/backbone/preprocess.ts'
import type { ProgressEvent } from '../../../electron/engine/jobs/progress.ts'

let drops = 0
let flaky = 0
const BODY = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) & 255))
const SHA = createHash('sha256').update(BODY).digest('hex')

/** A local server: /model serves BODY in chunks, /short promises more than it sends. */
async function serve(): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/model') {
      res.writeHead(200, { 'content-length': BODY.length })
      // Several chunks so that progress has something to report.
      for (let o = 0; o < BODY.length; o += 50_000) res.write(BODY.subarray(o, o + 50_000))
      res.end()
    } else if (req.url === '/drop') {
      // Promises the whole body, sends part of it, then the connection drops.
      drops++
      res.writeHead(200, { 'content-length': BODY.length })
      res.write(BODY.subarray(0, 60_000), () => res.socket?.destroy())
    } else if (req.url === '/flaky') {
      // Drops the first request, serves the second in full.
      if (flaky++ === 0) {
        res.writeHead(200, { 'content-length': BODY.length })
        res.write(BODY.subarray(0, 60_000), () => res.socket?.destroy())
      } else {
        res.writeHead(200, { 'content-length': BODY.length })
        res.end(BODY)
      }
    } else if (req.url === '/short') {
      res.writeHead(200)
      res.end(BODY.subarray(0, 1000))
    } else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

const entry = (over: Partial<CatalogueEntry>): CatalogueEntry => ({ ...catalogueEntry('resnet18-v2'), id: 'test-model', file: 'test.onnx', ...over })

test('the catalogue entries are well-formed; unknown checksums are null, never made up', () => {
  assert.ok(catalogue.length >= 3)
  const ids = new Set<string>()
  for (const e of catalogue) {
    assert.ok(!ids.has(e.id), `duplicate id ${e.id}`)
    ids.add(e.id)
    assert.ok(/^https:\/\//.test(e.url))
    assert.ok(e.sha256 === null || /^[0-9a-f]{64}$/.test(e.sha256))
    if (e.sha256 === null) assert.match(e.notes, /size only|size-only/i)
    parsePreprocess(e.preprocess, e.id)
  }
  assert.throws(() => catalogueEntry('nope'), /no catalogue backbone 'nope' \(have: dinov2-small, resnet34-v2, resnet18-v2/)
  // Every entry names its feature tensor and dimension; the self-supervised one is there.
  for (const e of catalogue) {
    assert.ok(e.featureLayer.length > 0 && e.dim > 0, e.id)
    if (e.sha256) assert.ok(e.checksumSource.length > 0, e.id)
  }
  const dino = catalogueEntry('dinov2-small')
  assert.equal(dino.dim, 384)
  assert.match(dino.licence, /Apache-2\.0/)
  assert.equal(catalogueEntry('resnet34-v2').dim, 512)
})

test('download streams with progress, checks size and sha256, and renames into place', async () => {
  const { server, base } = await serve()
  const dir = mkdtempSync(join(tmpdir(), 'qc-dl-'))
  try {
    const events: ProgressEvent[] = []
    const e = entry({ url: `${base}/model`, bytes: BODY.length, sha256: SHA })
    const file = await downloadCatalogueModel(e.id, dir, { entry: e, progress: (p) => events.push(p) })
    assert.equal(file, join(dir, 'test.onnx'))
    assert.deepEqual(readFileSync(file), BODY)
    assert.deepEqual(readdirSync(dir), ['test.onnx'])
    assert.ok(events.length >= 2)
    assert.equal(events.at(-1)!.done, BODY.length)
    assert.equal(events.at(-1)!.total, BODY.length)
    // A second call finds the verified file and does not download again.
    server.close()
    assert.equal(await downloadCatalogueModel(e.id, dir, { entry: e }), file)
  } finally {
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a wrong checksum, a wrong size and a short body are refused and leave nothing behind', async () => {
  const { server, base } = await serve()
  const dir = mkdtempSync(join(tmpdir(), 'qc-dl-'))
  try {
    const bad = entry({ url: `${base}/model`, bytes: BODY.length, sha256: '0'.repeat(64) })
    await assert.rejects(downloadCatalogueModel(bad.id, dir, { entry: bad }), new RegExp(`failed its checksum: sha256 ${SHA}, expected 0{64}`))
    const size = entry({ url: `${base}/model`, bytes: 12345, sha256: null })
    await assert.rejects(downloadCatalogueModel(size.id, dir, { entry: size }), /server offers 200000 bytes, the catalogue expects 12345/)
    const short = entry({ url: `${base}/short`, bytes: 5000, sha256: null })
    await assert.rejects(downloadCatalogueModel(short.id, dir, { entry: short }), /got 1000 bytes, expected 5000/)
    const missing = entry({ url: `${base}/gone`, bytes: null, sha256: null })
    await assert.rejects(downloadCatalogueModel(missing.id, dir, { entry: missing }), /HTTP 404/)
    assert.deepEqual(readdirSync(dir), [])
  } finally {
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('offline: a clear error that says what to do instead', async () => {
  // Take a free port, then close it: nothing listens there.
  const { server, base } = await serve()
  await new Promise<void>((r) => server.close(() => r()))
  const dir = mkdtempSync(join(tmpdir(), 'qc-dl-'))
  try {
    const e = entry({ url: `${base}/model` })
    const host = new URL(base).host
    await assert.rejects(
      downloadCatalogueModel(e.id, dir, { entry: e }),
      new RegExp(`cannot reach ${host.replace(/\./g, '\\.')}: ECONNREFUSED — download .* on a machine with internet and use 'my own \\.onnx file'`),
    )
    assert.equal(existsSync(join(dir, 'test.onnx')), false)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('an interrupted download leaves nothing and says so; the next attempt starts over and verifies', async () => {
  const { server, base } = await serve()
  const dir = mkdtempSync(join(tmpdir(), 'qc-dl-'))
  try {
    const dropped = entry({ url: `${base}/drop`, bytes: BODY.length, sha256: SHA })
    await assert.rejects(
      downloadCatalogueModel(dropped.id, dir, { entry: dropped }),
      /download of test-model from 127\.0\.0\.1:\d+ was interrupted after \d+ bytes .*nothing was kept, run it again/,
    )
    assert.ok(drops >= 1)
    assert.deepEqual(readdirSync(dir), [], 'no partial file left')
    // A stale .part from a killed process is overwritten, not appended to.
    writeFileSync(join(dir, 'test.onnx.part'), Buffer.alloc(70_000, 7))
    flaky = 0
    const e = entry({ url: `${base}/flaky`, bytes: BODY.length, sha256: SHA })
    await assert.rejects(downloadCatalogueModel(e.id, dir, { entry: e }), /was interrupted/)
    assert.deepEqual(readdirSync(dir), [])
    const file = await downloadCatalogueModel(e.id, dir, { entry: e })
    assert.deepEqual(readFileSync(file), BODY)
    assert.deepEqual(readdirSync(dir), ['test.onnx'])
    // A file in place that fails its checksum is downloaded again, not trusted.
    writeFileSync(file, Buffer.alloc(BODY.length, 1))
    flaky = 1
    assert.deepEqual(readFileSync(await downloadCatalogueModel(e.id, dir, { entry: e })), BODY)
  } finally {
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a catalogue backbone through ensureBackbone: downloaded from a local server, verified, registered with its feature tensor', async () => {
  const { buildModel, DataType, floatTensor } = await import('../../../electron/engine/onnx/proto.ts')
  const { ensureBackbone } = await import('../../../electron/engine/backbone/backbone.ts')
  const { openDb } = await import('../../../electron/engine/store/db.ts')
  const { imagenetSpec } = await import('../../../electron/engine/backbone/preprocess.ts')
  // A small classifier: GlobalAveragePool -> Flatten -> Gemm; its feature tensor is 'pooled' (3-d).
  const model = Buffer.from(
    buildModel({
      graph: {
        name: 'tiny',
        nodes: [
          { op: 'GlobalAveragePool', inputs: ['x'], outputs: ['pooled'] },
          { op: 'Flatten', inputs: ['pooled'], outputs: ['flat'] },
          { op: 'Gemm', inputs: ['flat', 'fc'], outputs: ['logits'], attrs: { transB: { i: 1 } } },
        ],
        initializers: [floatTensor('fc', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [4, 3])],
        inputs: [{ name: 'x', type: DataType.FLOAT, shape: ['N', 3, 16, 16] }],
        outputs: [{ name: 'logits', type: DataType.FLOAT, shape: ['N', 4] }],
      },
    }),
  )
  const sha = createHash('sha256').update(model).digest('hex')
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': model.length })
    res.end(model)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const dir = mkdtempSync(join(tmpdir(), 'qc-dl-'))
  const models = join(dir, 'models')
  const add = (e: CatalogueEntry): void => void catalogue.push(e)
  const base0: CatalogueEntry = {
    id: 'tiny-ok',
    name: 'Tiny test classifier',
    url: `${base}/tiny.onnx`,
    file: 'tiny.onnx',
    bytes: model.length,
    sha256: sha,
    checksumSource: 'the test',
    preprocess: imagenetSpec(16),
    featureLayer: 'pooled',
    dim: 3,
    licence: 'test',
    notes: '',
  }
  add(base0)
  add({ ...base0, id: 'tiny-bad', file: 'tiny-bad.onnx', sha256: 'f'.repeat(64) })
  add({ ...base0, id: 'tiny-dim', file: 'tiny-dim.onnx', dim: 512 })
  const db = openDb(join(dir, 'p.qcdb'))
  try {
    const row = await ensureBackbone(db, 'tiny-ok', { modelsDir: models })
    assert.equal(row.kind, 'catalogue')
    assert.equal(row.outputName, 'pooled')
    assert.equal(row.featureLayer, 'pooled')
    assert.equal(row.dim, 3)
    assert.equal(row.modelSha256, sha)
    await assert.rejects(
      ensureBackbone(db, 'tiny-bad', { modelsDir: models }),
      /download of tiny-bad failed its checksum: sha256 [0-9a-f]{64}, expected f{64}/,
    )
    assert.ok(!existsSync(join(models, 'tiny-bad.onnx')) && !existsSync(join(models, 'tiny-bad.onnx.part')), 'nothing left of a bad download')
    await assert.rejects(ensureBackbone(db, 'tiny-dim', { modelsDir: models }), /feature tensor 'pooled' gives 3 values per image, expected 512/)
  } finally {
    db.close()
    catalogue.splice(
      catalogue.findIndex((e) => e.id === 'tiny-ok'),
      3,
    )
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
})
