import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, rmSync } from 'node:fs'
import * as ort from 'onnxruntime-node'
import { blobToVec, type Db } from '../../../electron/engine/store/db.ts'
import { ensureBackbone, getBackbone, loadBackbone } from '../../../electron/engine/backbone/backbone.ts'
import { parseRemoteUrl } from '../../../electron/engine/backbone/remote.ts'
import { preprocessImage } from '../../../electron/engine/backbone/preprocess.ts'
import { extractFeatures } from '../../../electron/engine/extract/extract.ts'
import { startKServe, type KServeServer } from './kserve-server.ts'
import { fixture, type Fixture } from './remote-fixture.ts'

function stored(db: Db, backboneId: number): Map<string, Float32Array> {
  const rows = db.prepare('SELECT hash, vec FROM features WHERE backbone_id = ?').all(backboneId) as { hash: string; vec: Buffer }[]
  return new Map(rows.map((r) => [r.hash, blobToVec(r.vec)]))
}

/** Local inference of the same model on the same preprocessing, pooled by hand: hash -> vector. */
async function localFeatures(f: Fixture, backboneId: number): Promise<Map<string, Float64Array>> {
  const spec = getBackbone(f.db, backboneId)!.preprocess!
  const session = await ort.InferenceSession.create(f.model)
  const out = new Map<string, Float64Array>()
  const { createHash } = await import('node:crypto')
  for (const file of f.files) {
    const x = await preprocessImage(file, spec)
    const y = (await session.run({ x: new ort.Tensor('float32', x, [1, 3, 16, 16]) })).y as ort.Tensor
    const d = y.data as Float32Array
    const v = new Float64Array(4)
    for (let c = 0; c < 4; c++) {
      let s = 0
      for (let p = 0; p < 196; p++) s += d[c * 196 + p]!
      v[c] = s / 196
    }
    out.set(createHash('sha256').update(readFileSync(file)).digest('hex'), v)
  }
  await session.release()
  return out
}

const fast = { retries: 3, retryBaseMs: 5 }

async function withServer<T>(server: KServeServer, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } finally {
    await server.close()
  }
}

test('remote URL: model, version and server are parsed; credentials, queries and other forms are refused', () => {
  assert.deepEqual(parseRemoteUrl('http://gpu-box:8000/v2/models/resnet'), {
    url: 'http://gpu-box:8000/v2/models/resnet',
    server: 'http://gpu-box:8000',
    model: 'resnet',
    version: null,
  })
  assert.deepEqual(parseRemoteUrl('https://gw.example/triton/v2/models/dino%20s/versions/3/'), {
    url: 'https://gw.example/triton/v2/models/dino%20s/versions/3',
    server: 'https://gw.example',
    model: 'dino s',
    version: '3',
  })
  assert.throws(
    () => parseRemoteUrl('http://u:secret@h:8000/v2/models/m'),
    (e: Error) => /credentials in the URL are refused/.test(e.message) && !e.message.includes('secret'),
  )
  assert.throws(() => parseRemoteUrl('http://h:8000/v2/models/m?token=x'), /query or fragment/)
  assert.throws(() => parseRemoteUrl('http://h:8000/models/m'), /expected http\(s\):\/\/HOST:PORT\/v2\/models\/NAME/)
  assert.throws(() => parseRemoteUrl('http://h:8000/v2/models/m/infer'), /expected/)
})

test('a remote backbone gives the features of local inference, with several requests in flight; a rerun reuses them', async () => {
  const f = await fixture(24)
  const server = await startKServe({ modelFile: f.model, name: 'conv3', delayMs: 20 })
  await withServer(server, async () => {
    const row = await ensureBackbone(f.db, server.url, { remote: fast })
    assert.equal(row.kind, 'remote')
    assert.equal(row.name, 'conv3')
    assert.equal(row.modelPath, server.url)
    assert.equal(row.dim, 4)
    assert.deepEqual(row.inputShape, ['batch', 3, 16, 16])
    // The same URL again is the same backbone.
    assert.equal((await ensureBackbone(f.db, `${server.url}/`, { remote: fast })).id, row.id)
    const before = server.images
    const r = await extractFeatures(f.db, { backbone: row.id, batchSize: 4, remote: { ...fast, concurrency: 3 } })
    assert.equal(r.computed, 24)
    assert.match(r.executionProvider, /^remote http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(server.images - before, 24)
    assert.ok(server.maxInFlight >= 2 && server.maxInFlight <= 3, `in flight at once: ${server.maxInFlight}`)
    const infers = server.requests.filter((q) => q.path.endsWith('/infer'))
    assert.ok(
      infers.every((q) => q.headers['inference-header-content-length'] !== undefined && q.headers['content-type'] === 'application/octet-stream'),
    )

    const got = stored(f.db, row.id)
    const want = await localFeatures(f, row.id)
    assert.equal(got.size, want.size)
    for (const [hash, v] of want) {
      const g = got.get(hash)!
      for (let k = 0; k < 4; k++) assert.ok(Math.abs(g[k]! - v[k]!) <= 1e-5 * Math.max(1, Math.abs(v[k]!)), `${hash}[${k}]: ${g[k]} vs ${v[k]}`)
    }
    const again = await extractFeatures(f.db, { backbone: row.id, remote: fast })
    assert.equal(again.computed, 0)
    assert.equal(again.reused, 24)
  }).finally(() => {
    f.db.close()
    rmSync(f.dir, { recursive: true, force: true })
  })
})

test('429 and 503 are retried with backoff; a server max_batch_size splits the batches; other statuses fail naming the server', async () => {
  const f = await fixture(10)
  // The trial run at registration meets three refusals: within the three retries of one request.
  const server = await startKServe({ modelFile: f.model, name: 'conv3', maxBatch: 3, failures: [503, 429, 503] })
  await withServer(server, async () => {
    const row = await ensureBackbone(f.db, server.url, { remote: fast })
    assert.equal(server.failures.length, 0)
    assert.equal(server.requests.filter((q) => q.path.endsWith('/infer')).length, 4)

    server.requests.length = 0
    server.failures.push(429, 503)
    const notices: string[] = []
    const r = await extractFeatures(f.db, { backbone: row.id, batchSize: 8, remote: fast, log: (m) => notices.push(m) })
    assert.equal(r.computed, 10)
    assert.ok(
      notices.some((m) => /takes at most 3 images per request/.test(m)),
      notices.join('\n'),
    )
    // Two batches (8 + 2) went out as requests of at most 3 images: 3 + 3 + 2 + 2, plus the two refused.
    assert.equal(server.requests.filter((q) => q.path.endsWith('/infer')).length, 6)

    // Refused more often than the retries allow: the error names the server and says so.
    const g = await fixture(2)
    try {
      const row2 = await ensureBackbone(g.db, server.url, { remote: fast })
      server.failures.push(503, 503, 503, 503, 503)
      await assert.rejects(
        extractFeatures(g.db, { backbone: row2.id, remote: fast }),
        new RegExp(`^Error: remote backbone ${server.origin.replace(/\./g, '\\.')} model 'conv3': HTTP 503: busy \\(503\\), still after 3 retries`),
      )
      // Anything else is not retried.
      server.failures.length = 0
      server.failures.push(400)
      server.requests.length = 0
      await assert.rejects(
        extractFeatures(g.db, { backbone: row2.id, remote: fast }),
        /model 'conv3': inference on a 2x3x16x16 input answered HTTP 400: busy \(400\)/,
      )
      assert.equal(server.requests.filter((q) => q.path.endsWith('/infer')).length, 1)
    } finally {
      g.db.close()
      rmSync(g.dir, { recursive: true, force: true })
    }
  }).finally(() => {
    f.db.close()
    rmSync(f.dir, { recursive: true, force: true })
  })
})

test('a server killed mid-run: the answered batches are kept, the error names the server, a rerun extracts only the rest', async () => {
  const f = await fixture(20)
  const first = await startKServe({ modelFile: f.model, name: 'conv3', dieAfter: 3 })
  const row = await ensureBackbone(f.db, first.url, { remote: fast })
  const port = first.port
  let kept = 0
  try {
    // The trial run was answered 1; two more batches of 4 are answered, then the server dies.
    await assert.rejects(
      extractFeatures(f.db, { backbone: row.id, batchSize: 4, remote: { ...fast, concurrency: 2 } }),
      new RegExp(
        `remote backbone http://127\\.0\\.0\\.1:${port} model 'conv3': (connection refused|connection lost \\(\\w+\\)), still after 3 retries`,
      ),
    )
    // Every batch the server answered is committed (at least the two before the crash; with two in
    // flight a third may have been answered too); only those in flight when it died are lost.
    kept = stored(f.db, row.id).size
    assert.equal(kept, 4 * (first.answered - 1))
    assert.ok(kept >= 8 && kept <= 12, `kept ${kept}`)
  } finally {
    await first.close()
  }
  // The server comes back on the same address; the rerun sends only the missing images.
  const second = await startKServe({ modelFile: f.model, name: 'conv3', port })
  await withServer(second, async () => {
    const r = await extractFeatures(f.db, { backbone: row.id, batchSize: 4, remote: fast })
    assert.equal(r.computed, 20 - kept)
    assert.equal(r.reused, kept)
    assert.equal(second.images, 20 - kept)
    const got = stored(f.db, row.id)
    const want = await localFeatures(f, row.id)
    assert.equal(got.size, 20)
    for (const [hash, v] of want) for (let k = 0; k < 4; k++) assert.ok(Math.abs(got.get(hash)![k]! - v[k]!) <= 1e-5 * Math.max(1, Math.abs(v[k]!)))
  }).finally(() => {
    f.db.close()
    rmSync(f.dir, { recursive: true, force: true })
  })
})

test('metadata that is not an image model is refused by the local rules, naming the server', async () => {
  const f = await fixture(2)
  const cases: [string, (m: import('./kserve-server.ts').Metadata) => import('./kserve-server.ts').Metadata, RegExp][] = [
    [
      'fp16 input',
      (m) => ({ ...m, inputs: [{ ...m.inputs[0]!, datatype: 'FP16' }] }),
      /input 'x' is float16; an image backbone takes float32 pixels/,
    ],
    ['5 channels', (m) => ({ ...m, inputs: [{ ...m.inputs[0]!, shape: [-1, 5, 16, 16] }] }), /neither axis 1 nor axis 3 is 1 or 3 channels/],
    ['rank 3 input', (m) => ({ ...m, inputs: [{ ...m.inputs[0]!, shape: [-1, 16, 16] }] }), /rank 3\); an image backbone takes a 4-D tensor/],
    ['int64 output', (m) => ({ ...m, outputs: [{ ...m.outputs[0]!, datatype: 'INT64' }] }), /output 'y' is int64; features must be float32/],
    ['two inputs', (m) => ({ ...m, inputs: [m.inputs[0]!, { ...m.inputs[0]!, name: 'x2' }] }), /it takes 2 inputs \(x, x2\)/],
    [
      'not v2 at all',
      () => ({ hello: 'world' }) as unknown as import('./kserve-server.ts').Metadata,
      /no valid 'inputs' and 'outputs'.*KServe v2 endpoint/,
    ],
  ]
  try {
    for (const [what, change, why] of cases) {
      const server = await startKServe({ modelFile: f.model, name: 'conv3', metadata: change })
      await withServer(server, async () => {
        await assert.rejects(ensureBackbone(f.db, server.url, { remote: fast }), (e: Error) => {
          assert.match(e.message, new RegExp(`^remote backbone ${server.origin.replace(/\./g, '\\.')} model 'conv3'`), what)
          assert.match(e.message, why, what)
          return true
        })
      })
    }
    assert.equal((f.db.prepare("SELECT count(*) AS n FROM backbones WHERE kind = 'remote'").get() as { n: number }).n, 0)
    // A model the server does not have.
    const server = await startKServe({ modelFile: f.model, name: 'conv3' })
    await withServer(server, () =>
      assert.rejects(
        ensureBackbone(f.db, `${server.origin}/v2/models/other`, { remote: fast }),
        /model 'other': the metadata request answered HTTP 404.*no such model/,
      ),
    )
  } finally {
    f.db.close()
    rmSync(f.dir, { recursive: true, force: true })
  }
})

test('the token goes in the Authorization header, from the option or QC_BACKBONE_TOKEN, and is never stored or shown', async () => {
  const f = await fixture(4)
  const token = 's3cret-token-value'
  const server = await startKServe({ modelFile: f.model, name: 'conv3', token })
  await withServer(server, async () => {
    await assert.rejects(
      ensureBackbone(f.db, server.url, { remote: fast }),
      (e: Error) => /HTTP 401.*wants a token/.test(e.message) && !e.message.includes(token),
    )
    const row = await ensureBackbone(f.db, `${server.url}/versions/1`, { remote: { ...fast, token } })
    assert.equal(row.name, 'conv3-v1')
    process.env.QC_BACKBONE_TOKEN = token
    try {
      const r = await extractFeatures(f.db, { backbone: row.id, remote: fast })
      assert.equal(r.computed, 4)
    } finally {
      delete process.env.QC_BACKBONE_TOKEN
    }
    const authed = server.requests.filter((q) => q.headers.authorization !== undefined)
    assert.ok(authed.length >= 3 && authed.every((q) => q.headers.authorization === `Bearer ${token}`))
    assert.ok(server.requests.some((q) => q.path === '/v2/models/conv3/versions/1/infer'))
    const everything = JSON.stringify(f.db.prepare('SELECT * FROM backbones').all())
    assert.ok(!everything.includes(token))
    // A changed model behind the same URL is noticed on load.
    f.db.prepare('UPDATE backbones SET model_sha256 = ? WHERE id = ?').run('0'.repeat(64), row.id)
    await assert.rejects(loadBackbone(f.db, row.id, { remote: { ...fast, token } }), /no longer serves the model it was registered with/)
  }).finally(() => {
    f.db.close()
    rmSync(f.dir, { recursive: true, force: true })
  })
})
