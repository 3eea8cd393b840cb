import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { isLoopback, startServer, resolveStatic, type RunningServer } from '../../electron/server/server.ts'
import { createService, type Service } from '../../electron/service/service.ts'
import { openDb } from '../../electron/engine/store/db.ts'

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** Raw HTTP request: the path goes on the wire exactly as written (fetch would normalise '..'). */
function raw(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
    })
    req.on('error', fail)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

let dir: string
let server: RunningServer
const SECRET = 'top-secret-content-outside-the-web-root'

async function api(method: string, input: unknown = {}, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const r = await raw(
    server.port,
    'POST',
    `/api/${method}`,
    { 'content-type': 'application/json', 'x-qc-token': server.token, ...headers },
    JSON.stringify(input),
  )
  return { status: r.status, json: JSON.parse(r.body.toString('utf8')) }
}

/** Collects server-sent events until `until` returns true (or the timeout passes). */
function collectEvents(
  port: number,
  token: string,
  until: (events: any[]) => boolean,
  timeoutMs = 60000,
): { ready: Promise<void>; done: Promise<any[]> } {
  let resolveReady!: () => void
  const ready = new Promise<void>((r) => (resolveReady = r))
  const done = new Promise<any[]>((ok, fail) => {
    const events: any[] = []
    const req = request({ host: '127.0.0.1', port, path: `/api/events?token=${token}`, method: 'GET' }, (res) => {
      if (res.statusCode !== 200) return fail(new Error(`events: HTTP ${res.statusCode}`))
      resolveReady()
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n')
          if (data) events.push(JSON.parse(data))
        }
        if (until(events)) {
          clearTimeout(timer)
          req.destroy()
          ok(events)
        }
      })
    })
    const timer = setTimeout(() => {
      req.destroy()
      fail(new Error(`timed out waiting for events; got ${JSON.stringify(events.map((e) => e.type))}`))
    }, timeoutMs)
    req.on('error', (e) => {
      if (!(e as NodeJS.ErrnoException).code?.includes('ECONNRESET')) fail(e)
    })
    req.end()
  })
  return { ready, done }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'qc-server-'))
  const web = join(dir, 'web')
  mkdirSync(join(web, 'assets'), { recursive: true })
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>Seed QC</title><div id="app"></div>')
  writeFileSync(join(web, 'assets', 'app.js'), 'console.log(1)')
  writeFileSync(join(dir, 'secret.txt'), SECRET)
  // A tiny ImageFolder: two classes, three images each, plus one corrupt file.
  const images = join(dir, 'images')
  for (const [cls, color] of [
    ['ok', { r: 200, g: 200, b: 200 }],
    ['scratch', { r: 60, g: 60, b: 60 }],
  ] as const) {
    mkdirSync(join(images, cls), { recursive: true })
    for (let i = 0; i < 3; i++) {
      await sharp({ create: { width: 40 + i, height: 32, channels: 3, background: color } })
        .png()
        .toFile(join(images, cls, `${cls}-${i}.png`))
    }
  }
  writeFileSync(join(images, 'ok', 'broken.png'), 'not a png')
  const service = createService({ dataDir: join(dir, 'data'), mode: 'web', progressIntervalMs: 0 })
  server = await startServer({ dataDir: join(dir, 'data'), webRoot: web, service, port: 0 })
})

after(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

test('binds loopback and prints a URL carrying a random token', () => {
  assert.equal(server.host, '127.0.0.1')
  assert.match(server.token, /^[0-9a-f]{64}$/)
  assert.equal(server.url, `http://127.0.0.1:${server.port}/?token=${server.token}`)
})

test('refuses API, events and images without the right token (401)', async () => {
  const noToken = await raw(server.port, 'POST', '/api/appInfo', { 'content-type': 'application/json' }, '{}')
  assert.equal(noToken.status, 401)
  assert.equal(JSON.parse(noToken.body.toString()).error.code, 'unauthorized')
  const wrong = await raw(server.port, 'POST', '/api/appInfo', { 'content-type': 'application/json', 'x-qc-token': 'a'.repeat(64) }, '{}')
  assert.equal(wrong.status, 401)
  // The token in the query string is accepted only where a browser cannot send a header.
  const queryOnApi = await raw(server.port, 'POST', `/api/appInfo?token=${server.token}`, { 'content-type': 'application/json' }, '{}')
  assert.equal(queryOnApi.status, 401)
  assert.equal((await raw(server.port, 'GET', '/api/events')).status, 401)
  assert.equal((await raw(server.port, 'GET', '/api/events?token=nope')).status, 401)
  assert.equal((await raw(server.port, 'GET', '/img/1?size=thumb')).status, 401)
  const ok = await api('appInfo')
  assert.equal(ok.status, 200)
  assert.equal(ok.json.mode, 'web')
})

test('refuses a foreign Origin (403) and a non-loopback Host (403), accepts its own origin', async () => {
  const evil = await api('appInfo', {}, { origin: 'http://evil.example' })
  assert.equal(evil.status, 403)
  assert.equal(evil.json.error.code, 'forbidden')
  const otherPort = await api('appInfo', {}, { origin: `http://127.0.0.1:${server.port + 1}` })
  assert.equal(otherPort.status, 403)
  const img = await raw(server.port, 'GET', `/img/1?token=${server.token}`, { origin: 'http://evil.example' })
  assert.equal(img.status, 403)
  const rebinding = await raw(
    server.port,
    'POST',
    '/api/appInfo',
    { 'content-type': 'application/json', 'x-qc-token': server.token, host: `evil.example:${server.port}` },
    '{}',
  )
  assert.equal(rebinding.status, 403)
  const own = await api('appInfo', {}, { origin: `http://127.0.0.1:${server.port}` })
  assert.equal(own.status, 200)
})

test('rejects malformed calls with a clear error', async () => {
  const unknown = await api('dropTables')
  assert.equal(unknown.status, 404)
  assert.match(unknown.json.error.message, /unknown method 'dropTables'/)
  const bad = await api('openProject', { path: 42 })
  assert.equal(bad.status, 400)
  assert.match(bad.json.error.message, /openProject: path/)
  const notJson = await raw(server.port, 'POST', '/api/appInfo', { 'content-type': 'application/json', 'x-qc-token': server.token }, '{nope')
  assert.equal(notJson.status, 400)
  const form = await raw(
    server.port,
    'POST',
    '/api/appInfo',
    { 'content-type': 'application/x-www-form-urlencoded', 'x-qc-token': server.token },
    'a=1',
  )
  assert.equal(form.status, 400)
  const noProject = await api('querySamples', {})
  assert.equal(noProject.status, 409)
  assert.equal(noProject.json.error.code, 'no_project')
})

test('serves the app and never a file outside the web root', async () => {
  const index = await raw(server.port, 'GET', '/')
  assert.equal(index.status, 200)
  assert.match(index.body.toString(), /Seed QC/)
  assert.match(String(index.headers['content-security-policy']), /script-src 'self'/)
  assert.equal(index.headers['referrer-policy'], 'no-referrer')
  assert.equal((await raw(server.port, 'GET', '/assets/app.js')).status, 200)
  const attempts = [
    '/../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E/%2E%2E/secret.txt',
    '/..%2fsecret.txt',
    '/assets%2f..%2f..%2fsecret.txt',
    '/..%5csecret.txt',
    '/assets/..\\..\\secret.txt',
    `/${join(dir, 'secret.txt')}`,
    `//${join(dir, 'secret.txt')}`,
    '/C:/Windows/win.ini',
    '/%00/secret.txt',
    '/etc/passwd',
  ]
  for (const p of attempts) {
    const r = await raw(server.port, 'GET', p)
    assert.ok(!r.body.toString().includes(SECRET), `${p} leaked the secret`)
    assert.ok(r.status === 400 || r.status === 404 || (r.status === 200 && r.body.toString().includes('<div id="app">')), `${p}: status ${r.status}`)
    assert.ok(!r.body.toString().includes('root:'), `${p} leaked /etc/passwd`)
  }
  // The pure resolver refuses them too.
  const root = join(dir, 'web')
  for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/a/..\\..\\x', '/C:/x']) assert.equal(resolveStatic(root, p), null, p)
  assert.equal(resolveStatic(root, '/assets/app.js'), join(root, 'assets', 'app.js'))
})

test('happy path: create a project, import a folder as a job with SSE progress, query, serve only registered images', async () => {
  const created = await api('createProject', { name: 'line 3 parts' })
  assert.equal(created.status, 200, JSON.stringify(created.json))
  assert.equal(created.json.samples, 0)

  const events = collectEvents(server.port, server.token, (evs) => evs.some((e) => e.type === 'job:completed' || e.type === 'job:failed'))
  await events.ready
  const started = await api('importFolder', { root: join(dir, 'images') })
  assert.equal(started.status, 200, JSON.stringify(started.json))
  assert.equal(started.json.kind, 'import')
  assert.equal(started.json.joined, false)
  // A second identical request while the first runs joins it.
  const again = await api('importFolder', { root: join(dir, 'images') })
  if (again.json.joined) assert.equal(again.json.jobId, started.json.jobId)

  const evs = await events.done
  const mine = evs.filter((e) => e.job?.id === started.json.jobId)
  assert.ok(
    mine.some((e) => e.type === 'job:started'),
    'job:started received',
  )
  assert.ok(
    mine.some((e) => e.type === 'job:progress' && e.job.progress.total > 0),
    'job:progress received',
  )
  const completed = mine.find((e) => e.type === 'job:completed')
  assert.ok(completed, `job:completed received (got ${mine.map((e) => e.type).join(', ')})`)
  assert.equal(completed.result.added, 6)
  assert.equal(completed.result.skipped.length, 1)
  assert.match(completed.result.skipped[0].path, /broken\.png/)
  assert.deepEqual([...completed.result.classes].sort(), ['ok', 'scratch'])

  // Wait for a joined duplicate to finish too, so the project is quiet.
  for (let i = 0; i < 100 && (await api('listJobs')).json.jobs.some((j: any) => j.status === 'running'); i++)
    await new Promise((r) => setTimeout(r, 50))

  // The database file says the same as the API.
  const db = openDb(created.json.path, { create: false, readonly: true })
  assert.equal((db.prepare('SELECT count(*) AS n FROM samples').get() as { n: number }).n, 6)
  db.close()

  const list = await api('querySamples', { limit: 4 })
  assert.equal(list.status, 200, JSON.stringify(list.json))
  assert.equal(list.json.total, 6)
  assert.equal(list.json.items.length, 4)
  assert.equal(list.json.items[0].status, 'unreviewed')
  const page2 = await api('querySamples', { offset: 4, limit: 4 })
  assert.equal(page2.json.items.length, 2)

  const id = list.json.items[0].id as number
  const thumb = await raw(server.port, 'GET', `/img/${id}?size=thumb&token=${server.token}`)
  assert.equal(thumb.status, 200)
  assert.equal(thumb.headers['content-type'], 'image/jpeg')
  const meta = await sharp(thumb.body).metadata()
  assert.equal(meta.format, 'jpeg')
  const full = await raw(server.port, 'GET', `/img/${id}?size=full`, { 'x-qc-token': server.token })
  assert.equal(full.status, 200)
  assert.equal(full.headers['content-type'], 'image/png')

  // Sample ids outside the project, and anything that is not an id, are 404.
  for (const p of [
    '/img/999999',
    '/img/0',
    '/img/-1',
    `/img/..%2f..%2fsecret.txt`,
    '/img/../../secret.txt',
    `/img/${encodeURIComponent(join(dir, 'secret.txt'))}`,
    '/img/1e3',
  ]) {
    const r = await raw(server.port, 'GET', `${p}${p.includes('?') ? '&' : '?'}token=${server.token}`)
    assert.equal(r.status, 404, p)
    assert.ok(!r.body.toString().includes(SECRET))
  }
})

test('happy path: the demo project via the API, with SSE progress and job:completed carrying the project', async () => {
  const events = collectEvents(server.port, server.token, (evs) =>
    evs.some((e) => e.job?.kind === 'demo' && e.type !== 'job:started' && e.type !== 'job:progress'),
  )
  await events.ready
  const started = await api('createDemoProject', { perClass: 4, seed: 3 })
  assert.equal(started.status, 200, JSON.stringify(started.json))
  assert.equal(started.json.kind, 'demo')
  const evs = await events.done
  const mine = evs.filter((e) => e.job?.id === started.json.jobId)
  assert.ok(
    mine.some((e) => e.type === 'job:progress'),
    'progress received',
  )
  const done = mine.find((e) => e.type === 'job:completed')
  assert.ok(done, `completed (got ${mine.map((e) => `${e.type} ${e.job.error ?? ''}`).join(', ')})`)
  assert.equal(done.result.samples, 20)
  assert.equal(done.result.demo, true)
  assert.ok(evs.some((e) => e.type === 'project:opened' && e.project.path === done.result.path))
  const cur = await api('currentProject')
  assert.equal(cur.json.project.path, done.result.path)
  const first = (await api('querySamples', { limit: 1 })).json.items[0]
  const img = await raw(server.port, 'GET', `/img/${first.id}?size=thumb&token=${server.token}`)
  assert.equal(img.status, 200)
})

test('cancelling a job over the API stops it and reports job:cancelled', async () => {
  const events = collectEvents(server.port, server.token, (evs) =>
    evs.some((e) => e.job?.kind === 'demo' && ['job:completed', 'job:failed', 'job:cancelled'].includes(e.type)),
  )
  await events.ready
  const started = await api('createDemoProject', { perClass: 400, seed: 9 })
  assert.equal(started.status, 200)
  const cancelled = await api('cancelJob', { jobId: started.json.jobId })
  assert.deepEqual(cancelled.json, { cancelled: true })
  const evs = await events.done
  const end = evs.find((e) => e.job?.id === started.json.jobId && e.type !== 'job:started' && e.type !== 'job:progress')
  assert.equal(end.type, 'job:cancelled')
  const jobs = await api('listJobs')
  assert.equal(jobs.json.jobs.find((j: { id: string }) => j.id === started.json.jobId).status, 'cancelled')
  assert.deepEqual((await api('cancelJob', { jobId: started.json.jobId })).json, { cancelled: false })
})

// --- issue 11: the server never falls over ------------------------------------------------------

/**
 * A stand-in service whose image() hands the server whatever file a test sets up, so that the
 * server's own reading is what fails: a file deleted after the service found it, a folder, a
 * dangling link, an unreadable file.
 */
function stubService(images: Map<number, string | (() => string)>): Service {
  return {
    async call(method: string) {
      if (method === 'appInfo') return { mode: 'web' }
      throw new Error(`stub: ${method}`)
    },
    subscribe: () => () => undefined,
    imagePath: () => undefined,
    async image(id: number) {
      const f = images.get(id)
      if (f === undefined) return undefined
      return { file: typeof f === 'function' ? f() : f, mime: 'image/png' }
    },
    async close() {},
  } as unknown as Service
}

test('an image read that fails (deleted, a folder, a dangling link, unreadable, a read error) answers 404/500 and the server lives on', async () => {
  const d = mkdtempSync(join(tmpdir(), 'qc-server-img-'))
  const good = join(d, 'good.png')
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 1, g: 2, b: 3 } } })
    .png()
    .toFile(good)
  const deleted = join(d, 'deleted.png')
  writeFileSync(deleted, readFileSync(good))
  const raced = join(d, 'raced.png')
  const folder = join(d, 'folder.png')
  const dangling = join(d, 'dangling.png')
  const locked = join(d, 'locked.png')
  writeFileSync(locked, readFileSync(good))
  chmodSync(locked, 0o000)
  const images = new Map<number, string | (() => string)>([
    [1, good],
    [2, deleted],
    // Deleted between the service's look-up and the server's open.
    [
      3,
      () => {
        writeFileSync(raced, 'x')
        rmSync(raced)
        return raced
      },
    ],
    [4, folder],
    [5, dangling],
    [6, locked],
  ])
  // On Linux /proc/self/mem opens as a regular file and fails with EIO on the first read: an
  // error after the headers are written.
  if (process.platform === 'linux') images.set(7, '/proc/self/mem')
  const srv = await startServer({ dataDir: join(d, 'data'), webRoot: join(dir, 'web'), service: stubService(images), port: 0 })
  try {
    const img = (id: number) =>
      raw(srv.port, 'GET', `/img/${id}?size=full&token=${srv.token}`).catch((e: Error) => ({ status: -1, error: e.message }))
    assert.equal((await img(1)).status, 200)
    rmSync(deleted)
    mkdirSync(folder)
    symlinkSync(join(d, 'nowhere.png'), dangling)
    const asRoot = process.getuid?.() === 0
    for (const id of [2, 3, 4, 5, 6, 7]) {
      if (!images.has(id)) continue
      const r = await img(id)
      if (id === 6 && asRoot) {
        // Root reads a 0o000 file anyway: served, and that is no failure of the server.
        assert.equal(r.status, 200)
        continue
      }
      if (id === 7) assert.ok(r.status === -1 || r.status === 200 || r.status === 500, `read error: ${JSON.stringify(r)}`)
      else assert.ok(r.status === 404 || r.status === 500, `image ${id}: status ${r.status}`)
      // The server is alive: another route and another image answer 200.
      assert.equal((await raw(srv.port, 'POST', '/api/appInfo', { 'content-type': 'application/json', 'x-qc-token': srv.token }, '{}')).status, 200)
      assert.equal((await img(1)).status, 200)
    }
    // Static files take the same path: one deleted under the server is a 404, not a crash.
    const gone = await raw(srv.port, 'GET', '/assets/not-there.js')
    assert.equal(gone.status, 404)
    assert.equal((await raw(srv.port, 'GET', '/')).status, 200)
  } finally {
    await srv.close()
    chmodSync(locked, 0o644)
    rmSync(d, { recursive: true, force: true })
  }
})

test('a request body over the limit gets 413 (not a reset), with and without content-length', async () => {
  const big = 'x'.repeat(10 * 1024 * 1024 + 1)
  const headers = { 'content-type': 'application/json', 'x-qc-token': server.token }
  const declared = await raw(server.port, 'POST', '/api/appInfo', { ...headers, 'content-length': String(Buffer.byteLength(big)) }, big)
  assert.equal(declared.status, 413)
  assert.match(JSON.parse(declared.body.toString()).error.message, /request body over 10485760 bytes/)
  // Chunked (no content-length): found out while reading.
  const chunked = await raw(server.port, 'POST', '/api/appInfo', headers, big)
  assert.equal(chunked.status, 413)
  assert.equal((await api('appInfo')).status, 200)
})

test('the loopback check is strict: 127.evil.com is neither a bind address nor a Host', async () => {
  for (const h of ['127.evil.com', '127.0.0.1.evil.com', 'localhost.evil.com', '127.0.0.1 ']) assert.equal(isLoopback(h), false, h)
  for (const h of ['127.0.0.1', '::1', 'localhost']) assert.equal(isLoopback(h), true, h)
  await assert.rejects(startServer({ host: '127.evil.com', dataDir: join(dir, 'data2') }), /refusing to bind 127\.evil\.com/)
  for (const host of [`127.evil.com:${server.port}`, '127.evil.com', `127.0.0.2:${server.port}`]) {
    const r = await raw(server.port, 'POST', '/api/appInfo', { 'content-type': 'application/json', 'x-qc-token': server.token, host }, '{}')
    assert.equal(r.status, 403, host)
  }
})

test('static files do not follow symbolic links out of the web root', async () => {
  const web = join(dir, 'web')
  symlinkSync(join(dir, 'secret.txt'), join(web, 'assets', 'leak.txt'))
  symlinkSync(dir, join(web, 'up'))
  writeFileSync(join(web, 'assets', 'inside.txt'), 'fine')
  symlinkSync(join(web, 'assets', 'inside.txt'), join(web, 'assets', 'alias.txt'))
  try {
    for (const p of ['/assets/leak.txt', '/up/secret.txt']) {
      const r = await raw(server.port, 'GET', p)
      assert.equal(r.status, 404, p)
      assert.ok(!r.body.toString().includes(SECRET), `${p} leaked the secret`)
    }
    // A link that stays inside the web root is fine.
    const ok = await raw(server.port, 'GET', '/assets/alias.txt')
    assert.equal(ok.status, 200)
    assert.equal(ok.body.toString(), 'fine')
  } finally {
    for (const f of [join(web, 'assets', 'leak.txt'), join(web, 'up'), join(web, 'assets', 'alias.txt'), join(web, 'assets', 'inside.txt')])
      rmSync(f, { force: true })
  }
})
