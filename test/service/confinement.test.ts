/**
 * Attack suite (issue 11), web mode confined: a client with the token names paths outside the
 * data folder and the dataset roots the server was started with (`qc serve --root DIR`), directly,
 * through links inside a root, and inside the files it may read (CSV rows). Every refusal is
 * checked against the error (code 'forbidden', naming the path and why) and a snapshot of the
 * whole tree (every path with the sha256 of its content, link targets) taken before and after.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { createService, type Service } from '../../electron/service/service.ts'
import { startServer } from '../../electron/server/server.ts'
import { OUTSIDE_REASON } from '../../electron/engine/util/confine.ts'
import { writeNpy } from '../../electron/engine/util/npy.ts'
import { tempDir, writeImage } from '../engine/import/fixtures.ts'
import type { ContractError, ImportResult } from '../../shared/contract.ts'
import { snapshot } from '../engine/tree-snapshot.ts'

const SECRET_LINE = 'root:x:0:0:the-first-line-of-a-secret-file'

let dir: string
/** The dataset root the service may use. */
let root: string
/** Everything the service must not touch. */
let outside: string
let svc: Service

/** A job's outcome (the result is an import's for the imports below; unused for the others). */
async function finished(ref: unknown): Promise<{ result: ImportResult; status: string; error: string | null }> {
  const { jobId } = ref as { jobId: string }
  const result = (await svc.jobs.wait(jobId)) as ImportResult
  const job = svc.jobs.get(jobId)!
  return { result, status: job.status, error: job.error }
}

/** Asserts that `call` is refused as outside the allowed folders, naming `path`, and that nothing under `dir` changed. */
async function assertForbidden(method: string, input: Record<string, unknown>, path: string): Promise<void> {
  const before = snapshot(dir)
  await assert.rejects(svc.call(method, input), (e: ContractError) => {
    assert.equal(e.code, 'forbidden', `${method}: ${e.code}: ${e.message}`)
    assert.ok(e.message.includes(path), `names the path: ${e.message}`)
    assert.match(e.message, /outside the folders this server may use/)
    assert.ok(!e.message.includes(SECRET_LINE), 'no file content in the error')
    return true
  })
  assert.deepEqual(snapshot(dir), before, `${method}: nothing on disk changed`)
}

before(async () => {
  dir = tempDir('qc-confine-')
  root = join(dir, 'root')
  outside = join(dir, 'outside')
  // The dataset root: an ImageFolder, plus links that lead out of it.
  await writeImage(join(root, 'images', 'ok', 'a.png'), 1)
  await writeImage(join(root, 'images', 'ok', 'b.png'), 2)
  await writeImage(join(root, 'images', 'scratch', 'c.png'), 3)
  // Outside: a secret text file, an image, a private folder of images, a project, embeddings, a model.
  mkdirSync(outside, { recursive: true })
  writeFileSync(join(outside, 'secret.txt'), `${SECRET_LINE}\nmore secrets\n`)
  await writeImage(join(outside, 'photo.png'), 4)
  await writeImage(join(outside, 'private', 'ok', 'hidden-name.png'), 5)
  writeNpy(join(outside, 'x.npy'), new Float32Array(8), [2, 4])
  writeFileSync(join(outside, 'y.csv'), 'id,label\na,ok\nb,scratch\n')
  writeFileSync(join(outside, 'model.onnx'), 'not a model')
  svc = createService({ dataDir: join(dir, 'data'), roots: [root], progressIntervalMs: 0 })
  const other = createService({ dataDir: join(dir, 'other-data'), progressIntervalMs: 0 })
  await other.call('createProject', { path: join(outside, 'theirs.qcdb') })
  await other.close()
  // The project the attacker works in: inside the data folder.
  await svc.call('createProject', { name: 'mine' })
})

after(async () => {
  await svc.close()
  rmSync(dir, { recursive: true, force: true })
})

test('create and open project: a file outside, directly or through a link in a root, is refused', async () => {
  await assertForbidden('createProject', { path: join(outside, 'new.qcdb') }, join(outside, 'new.qcdb'))
  await assertForbidden('createProject', { path: join(outside, 'missing', 'deep', 'new.qcdb') }, join(outside, 'missing'))
  await assertForbidden('openProject', { path: join(outside, 'theirs.qcdb') }, join(outside, 'theirs.qcdb'))
  // '..' does not climb out either.
  await assertForbidden('openProject', { path: join(root, '..', 'outside', 'theirs.qcdb') }, 'theirs.qcdb')
  // A link inside the root to the outside folder: judged by where it leads.
  symlinkSync(outside, join(root, 'door'))
  try {
    await assertForbidden('openProject', { path: join(root, 'door', 'theirs.qcdb') }, join(root, 'door'))
    await assertForbidden('createProject', { path: join(root, 'door', 'new.qcdb') }, join(root, 'door'))
    // A dangling link whose target would be created outside.
    symlinkSync(join(outside, 'made-by-link.qcdb'), join(root, 'dangling.qcdb'))
    await assertForbidden('createProject', { path: join(root, 'dangling.qcdb') }, join(root, 'dangling.qcdb'))
  } finally {
    rmSync(join(root, 'door'))
    rmSync(join(root, 'dangling.qcdb'), { force: true })
  }
  // The open project is still the one in the data folder.
  const { project } = (await svc.call('currentProject', {})) as { project: { name: string } }
  assert.equal(project.name, 'mine')
})

test('import folder outside: refused before listing, so there is no import and nothing to list as skipped', async () => {
  await assertForbidden('importFolder', { root: join(outside, 'private') }, join(outside, 'private'))
  await assertForbidden('importFolder', { root: '/' }, '/')
  const { imports } = (await svc.call('listImports', {})) as { imports: unknown[] }
  assert.equal(imports.length, 0)
})

test('import folder inside a root: links that lead outside are skipped with a reason, never followed or read', async () => {
  const images = join(root, 'images')
  symlinkSync(join(outside, 'private'), join(images, 'private-class'))
  symlinkSync(join(outside, 'private', 'ok'), join(images, 'ok', 'nested-door'))
  symlinkSync(join(outside, 'photo.png'), join(images, 'ok', 'photo-link.png'))
  const before = snapshot(outside)
  try {
    const r = await finished(await svc.call('importFolder', { root: images }))
    assert.equal(r.status, 'completed', r.error ?? '')
    assert.equal(r.result.added, 3, 'the three real images')
    const { skipped } = (await svc.call('listSkipped', { importId: r.result.importId, offset: 0, limit: 100 })) as {
      skipped: { path: string; reason: string }[]
    }
    const byPath = new Map(skipped.map((s) => [s.path, s.reason]))
    for (const p of ['private-class', 'ok/nested-door', 'ok/photo-link.png']) assert.equal(byPath.get(p), OUTSIDE_REASON, p)
    // Nothing under the links was listed: the outside file names never reach the project.
    assert.ok(!skipped.some((s) => s.path.includes('hidden-name')), JSON.stringify(skipped))
    const grid = (await svc.call('querySamples', { offset: 0, limit: 100 })) as { items: { path: string }[] }
    assert.deepEqual(grid.items.map((i) => i.path).sort(), ['ok/a.png', 'ok/b.png', 'scratch/c.png'])
    assert.deepEqual(snapshot(outside), before)
  } finally {
    for (const l of ['private-class', 'ok/nested-door', 'ok/photo-link.png']) rmSync(join(images, ...l.split('/')))
  }
})

test('import CSV: a manifest outside is refused; rows of a manifest inside that name files outside are skipped, not read', async () => {
  await assertForbidden('importCsv', { csvFile: join(outside, 'y.csv') }, join(outside, 'y.csv'))
  await assertForbidden('importCsv', { csvFile: join(root, 'any.csv'), imagesRoot: outside }, outside)
  const csv = join(root, 'manifest.csv')
  writeFileSync(
    csv,
    [
      'path,label',
      'images/ok/a.png,ok',
      `${join(outside, 'photo.png')},ok`,
      '../outside/private/ok/hidden-name.png,ok',
      'images/../../outside/secret.txt,scratch',
    ].join('\n') + '\n',
  )
  const before = snapshot(outside)
  const r = await finished(await svc.call('importCsv', { csvFile: csv }))
  assert.equal(r.status, 'completed', r.error ?? '')
  assert.equal(r.result.added + r.result.existing, 1, 'only the row inside the root')
  const outsideRows = r.result.skipped.filter((s: { reason: string }) => s.reason.endsWith(OUTSIDE_REASON))
  assert.equal(outsideRows.length, 3, JSON.stringify(r.result.skipped))
  assert.deepEqual(snapshot(outside), before)
})

test('import CSV of a file that is not a CSV: the error names the file and the problem, never its content', async () => {
  // A text file inside the root (the worst case: its first line is readable text).
  const text = join(root, 'passwd')
  writeFileSync(text, `${SECRET_LINE}\nsecond line\n`)
  const bin = join(root, 'images', 'ok', 'a.png')
  for (const file of [text, bin]) {
    const r = await finished(await svc.call('importCsv', { csvFile: file }))
    assert.equal(r.status, 'failed')
    assert.ok(r.error!.startsWith(file), r.error!)
    assert.ok(!r.error!.includes(SECRET_LINE) && !r.error!.includes('root:x'), `no content echoed: ${r.error}`)
    assert.ok(!/PNG|IHDR/.test(r.error!), `no content echoed: ${r.error}`)
  }
  const r = await finished(await svc.call('importCsv', { csvFile: text }))
  assert.match(r.error!, /missing columns path, label in the header row/)
})

test('import embeddings outside: refused (the .npy and the labels CSV alike)', async () => {
  writeNpy(join(root, 'x.npy'), new Float32Array(8), [2, 4])
  await assertForbidden('importEmbeddings', { npyFile: join(outside, 'x.npy'), labelsCsv: join(root, 'y.csv') }, join(outside, 'x.npy'))
  await assertForbidden('importEmbeddings', { npyFile: join(root, 'x.npy'), labelsCsv: join(outside, 'y.csv') }, join(outside, 'y.csv'))
})

test('add backbone file outside: refused before the file is opened', async () => {
  await assertForbidden('addBackboneFile', { path: join(outside, 'model.onnx') }, join(outside, 'model.onnx'))
})

test('export outside: refused, also through a link in a root and with force', async () => {
  for (const format of ['csv', 'json', 'imagefolder'] as const) {
    await assertForbidden('exportLabels', { format, out: join(outside, `labels-${format}`), force: true }, join(outside, `labels-${format}`))
  }
  await assertForbidden('exportLabels', { format: 'csv', out: join(outside, 'secret.txt'), force: true }, join(outside, 'secret.txt'))
  symlinkSync(outside, join(root, 'exports'))
  try {
    await assertForbidden('exportLabels', { format: 'csv', out: join(root, 'exports', 'labels.csv'), force: true }, join(root, 'exports'))
  } finally {
    rmSync(join(root, 'exports'))
  }
  // Inside the allowed folders it works (here the data folder: the root holds the project's images).
  const r = await finished(await svc.call('exportLabels', { format: 'csv', out: join(dir, 'data', 'labels.csv') }))
  assert.equal(r.status, 'completed', r.error ?? '')
})

test('recent projects: only those under the allowed folders are listed (the others are not even probed)', async () => {
  const other = createService({ dataDir: join(dir, 'data'), progressIntervalMs: 0 })
  await other.call('openProject', { path: join(outside, 'theirs.qcdb') })
  await other.close()
  const { projects } = (await svc.call('listRecentProjects', {})) as { projects: { path: string }[] }
  assert.ok(projects.length > 0)
  assert.ok(!projects.some((p) => p.path.startsWith(outside)), JSON.stringify(projects))
})

test('images: a sample swapped for a link to a file outside is not served (web mode, by HTTP too)', async () => {
  const rows = (await svc.call('querySamples', { offset: 0, limit: 100 })) as { items: { id: number; path: string }[] }
  const id = rows.items.find((i) => i.path === 'ok/b.png')!.id
  assert.ok(await svc.image(id, 'full'), 'served while it is the registered file')
  const file = join(root, 'images', 'ok', 'b.png')
  renameSync(file, `${file}.orig`)
  symlinkSync(join(outside, 'secret.txt'), file)
  try {
    assert.equal(await svc.image(id, 'full'), undefined)
    assert.equal(await svc.image(id, 'thumb'), undefined)
    // The same through the server that `qc serve --root` starts.
    const srv = await startServer({ dataDir: join(dir, 'data'), roots: [root], webRoot: join(dir, 'no-web'), port: 0, warn: () => {} })
    try {
      await srv.service.call('openProject', { path: join(dir, 'data', 'projects', 'mine.qcdb') })
      const reply = await new Promise<{ status: number; body: string }>((ok, fail) => {
        const req = request({ host: '127.0.0.1', port: srv.port, path: `/img/${id}?size=full`, headers: { 'x-qc-token': srv.token } }, (res) => {
          let body = ''
          res.on('data', (c: Buffer) => (body += c.toString()))
          res.on('end', () => ok({ status: res.statusCode ?? 0, body }))
        })
        req.on('error', fail)
        req.end()
      })
      assert.equal(reply.status, 404)
      assert.ok(!reply.body.includes(SECRET_LINE))
      // The server's own service is confined too.
      await assert.rejects(srv.service.call('importFolder', { root: outside }), (e: ContractError) => e.code === 'forbidden')
    } finally {
      await srv.close()
    }
  } finally {
    rmSync(file)
    renameSync(`${file}.orig`, file)
  }
})

test('desktop (no roots): unconfined, but a link out of the source root is served only when it is the registered file', async () => {
  const images = join(dir, 'desk')
  await writeImage(join(images, 'ok', 'x.png'), 7)
  // A dataset made of links (common with shared data): registered through the link, served by hash.
  symlinkSync(join(outside, 'photo.png'), join(images, 'ok', 'linked.png'))
  const desk = createService({ dataDir: join(dir, 'desk-data'), progressIntervalMs: 0 })
  try {
    await desk.call('createProject', { path: join(outside, 'desk.qcdb') })
    const { jobId } = (await desk.call('importFolder', { root: images })) as { jobId: string }
    const r = (await desk.jobs.wait(jobId)) as { added: number }
    assert.equal(r.added, 2)
    const rows = (await desk.call('querySamples', { offset: 0, limit: 10 })) as { items: { id: number; path: string }[] }
    const linked = rows.items.find((i) => i.path === 'ok/linked.png')!.id
    assert.ok(await desk.image(linked, 'full'), 'a link to the registered content is served')
    // Swapped: the link now leads to a secret; its content is not the registered one.
    rmSync(join(images, 'ok', 'linked.png'))
    symlinkSync(join(outside, 'secret.txt'), join(images, 'ok', 'linked.png'))
    assert.equal(await desk.image(linked, 'full'), undefined)
    assert.equal(await desk.image(linked, 'thumb'), undefined)
  } finally {
    await desk.close()
  }
})
