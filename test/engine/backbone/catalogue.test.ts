import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { catalogue, catalogueEntry, downloadCatalogueModel, type CatalogueEntry } from '../../../electron/engine/backbone/catalogue.ts'
import { parsePreprocess } from '../../../electron/engine/backbone/preprocess.ts'
import type { ProgressEvent } from '../../../electron/engine/jobs/progress.ts'

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
  assert.throws(() => catalogueEntry('nope'), /no catalogue backbone 'nope' \(have: resnet18-v2/)
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
