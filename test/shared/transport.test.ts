import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ContractError, methodNames } from '../../shared/contract.ts'
import { createBridgeTransport, createClient, createHttpTransport, type QcBridge, type Transport } from '../../shared/transport.ts'

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
