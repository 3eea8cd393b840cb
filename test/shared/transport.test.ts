import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ContractError, methodNames, type ClientEvent } from '../../shared/contract.ts'
import { createBridgeTransport, createClient, createHttpTransport, toClientEvent, type QcBridge, type Transport } from '../../shared/transport.ts'

function fakeTransport(reply: (method: string, input: unknown) => unknown) {
  const sent: { method: string; input: unknown }[] = []
  const listeners = new Set<(e: unknown) => void>()
  const t: Transport = {
    async invoke(method, input) {
      sent.push({ method, input })
      return reply(method, input)
    },
    subscribe(l) {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    imageUrl: (id, size) => `img:${id}:${size}`,
  }
  return { t, sent, emit: (e: unknown) => listeners.forEach((l) => l(e)) }
}

test('the client has exactly one function per contract method', () => {
  const c = createClient(fakeTransport(() => ({})).t) as unknown as Record<string, unknown>
  for (const m of methodNames) assert.equal(typeof c[m], 'function', m)
  assert.equal(typeof c.onEvent, 'function')
})

test('inputs are validated before sending, responses after receiving', async () => {
  const f = fakeTransport(() => ({ cancelled: true }))
  const c = createClient(f.t)
  assert.deepEqual(await c.cancelJob({ jobId: 'j1' }), { cancelled: true })
  await assert.rejects(c.getRun({ runId: -5 }), (e: unknown) => e instanceof ContractError && e.code === 'bad_request' && /runId/.test(e.message))
  assert.equal(f.sent.length, 1, 'the invalid call never left')
  const g = fakeTransport(() => ({ cancelled: 'yes' }))
  await assert.rejects(
    createClient(g.t).cancelJob({ jobId: 'j' }),
    (e: unknown) => e instanceof ContractError && e.code === 'internal' && /does not match the contract/.test(e.message),
  )
  // Defaults are filled in before sending, optional inputs may be omitted.
  const h = fakeTransport(() => ({ jobs: [] }))
  await createClient(h.t).listJobs()
  assert.deepEqual(h.sent[0], { method: 'listJobs', input: {} })
})

test('error bodies become ContractErrors with their code; events are validated', async () => {
  const f = fakeTransport(() => {
    throw { error: { code: 'no_project', message: 'no project is open' } }
  })
  const c = createClient(f.t)
  await assert.rejects(c.listRuns(), (e: unknown) => e instanceof ContractError && e.code === 'no_project')
  const got: string[] = []
  const off = c.onEvent((e) => got.push(e.type))
  f.emit({ type: 'project:closed', path: '/p' })
  f.emit({ type: 'nonsense' })
  off()
  f.emit({ type: 'project:closed', path: '/q' })
  assert.deepEqual(got, ['project:closed'])
  assert.equal(c.imageUrl(3, 'full'), 'img:3:full')
})

test('a completed job reaches listeners only with a result of its kind; a malformed one arrives as job:failed', () => {
  const f = fakeTransport(() => ({}))
  const got: ClientEvent[] = []
  createClient(f.t).onEvent((e) => got.push(e))
  const job = (kind: string, id: string) => ({
    id,
    kind,
    label: `${kind} job`,
    status: 'completed',
    progress: null,
    startedAt: 't',
    finishedAt: 't',
    error: null,
  })
  // An export result without its defaulted fields: accepted, defaults filled in.
  f.emit({ type: 'job:completed', job: job('export', 'j1'), result: { out: '/o.csv', written: 3, format: 'csv' } })
  // An import's result shape for a validate job, and an import result missing fields.
  f.emit({ type: 'job:completed', job: job('validate', 'j2'), result: { added: 1, existing: 0, skipped: [], classes: [] } })
  f.emit({ type: 'job:completed', job: job('import', 'j3'), result: { added: 1 } })
  f.emit({ type: 'job:completed', job: job('validate', 'j4'), result: { validationId: 7 } })
  assert.deepEqual(
    got.map((e) => [e.type, 'job' in e ? e.job.id : '']),
    [
      ['job:completed', 'j1'],
      ['job:failed', 'j2'],
      ['job:failed', 'j3'],
      ['job:completed', 'j4'],
    ],
  )
  const [exported, wrongKind, partial, validated] = got as [ClientEvent, ClientEvent, ClientEvent, ClientEvent]
  assert.ok(exported.type === 'job:completed' && exported.job.kind === 'export')
  assert.deepEqual(exported.result, { out: '/o.csv', written: 3, format: 'csv', excluded: 0, changed: 0, skipped: [], unreadable: [] })
  for (const e of [wrongKind, partial]) {
    assert.ok(e.type === 'job:failed')
    assert.equal(e.job.status, 'failed')
    assert.match(e.job.error ?? '', /result does not match the contract: /)
  }
  assert.match((wrongKind as { job: { error: string } }).job.error, /^validate job: the validate result does not match the contract: validationId/)
  assert.deepEqual(validated.type === 'job:completed' && validated.result, { validationId: 7 })
  // The same check is available on its own (the jobs store relies on what the client hands on).
  assert.equal(toClientEvent({ type: 'job:completed', job: job('refine', 'j5'), result: null })?.type, 'job:failed')
  assert.equal(toClientEvent({ type: 'nonsense' }), null)
})

test('a job-starting method must return a JobRef of its own kind', async () => {
  const ok = fakeTransport(() => ({ jobId: 'j', kind: 'validate', joined: false }))
  const ref = await createClient(ok.t).resumeValidation({ validationId: 1 })
  assert.equal(ref.kind, 'validate')
  const wrong = fakeTransport(() => ({ jobId: 'j', kind: 'export', joined: false }))
  await assert.rejects(
    createClient(wrong.t).resumeValidation({ validationId: 1 }),
    (e: unknown) => e instanceof ContractError && e.code === 'internal' && /started a job of kind export, not validate/.test(e.message),
  )
})

test('HTTP transport: POST /api/<method> with the token header; SSE with the token in the query', async () => {
  const calls: { url: string; init: any }[] = []
  const fetch = async (url: string, init: any) => {
    calls.push({ url, init })
    if (url.endsWith('/api/closeProject')) return { ok: false, status: 409, json: async () => ({ error: { code: 'conflict', message: 'busy' } }) }
    return { ok: true, status: 200, json: async () => ({ closed: true }) }
  }
  const sources: { url: string; closed: boolean; onmessage: ((e: { data: string }) => void) | null }[] = []
  class ES {
    onmessage: ((e: { data: string }) => void) | null = null
    closed = false
    constructor(readonly url: string) {
      sources.push(this)
    }
    close() {
      this.closed = true
    }
  }
  const t = createHttpTransport({ token: 'tok', baseUrl: 'http://127.0.0.1:9/', fetch, EventSource: ES })
  assert.deepEqual(await t.invoke('closeProject2', {}), { closed: true })
  assert.equal(calls[0]!.url, 'http://127.0.0.1:9/api/closeProject2')
  assert.equal(calls[0]!.init.headers['x-qc-token'], 'tok')
  assert.equal(calls[0]!.init.method, 'POST')
  await assert.rejects(t.invoke('closeProject', {}), (e: unknown) => e instanceof ContractError && e.code === 'conflict')
  const got: unknown[] = []
  const off = t.subscribe((e) => got.push(e))
  assert.equal(sources.length, 1)
  assert.equal(sources[0]!.url, 'http://127.0.0.1:9/api/events?token=tok')
  sources[0]!.onmessage!({ data: '{"type":"project:closed","path":"/p"}' })
  sources[0]!.onmessage!({ data: 'not json' })
  assert.deepEqual(got, [{ type: 'project:closed', path: '/p' }])
  off()
  assert.equal(sources[0]!.closed, true, 'the stream closes with its last listener')
  assert.equal(t.imageUrl!(7, 'thumb'), 'http://127.0.0.1:9/img/7?size=thumb&token=tok')
})

test('bridge transport calls the named preload function and uses qc-img:// for images', async () => {
  const bridge = { appInfo: async (i: unknown) => ({ echo: i }), onEvent: () => () => {} } as unknown as QcBridge
  const t = createBridgeTransport(bridge)
  assert.deepEqual(await t.invoke('appInfo', { a: 1 }), { echo: { a: 1 } })
  await assert.rejects(t.invoke('missing', {}), /unknown method/)
  assert.equal(t.imageUrl!(12, 'full'), 'qc-img://sample/12?size=full')
})
