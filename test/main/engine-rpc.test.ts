import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EngineRpc, EngineError } from '../../electron/main/engine-rpc.ts'
import type { ToEngine } from '../../electron/service/worker-protocol.ts'

test('replies are matched to their requests by id, events go to listeners', async () => {
  const sent: ToEngine[] = []
  const rpc = new EngineRpc((m) => sent.push(m))
  const events: unknown[] = []
  rpc.onEvent((e) => events.push(e))
  const a = rpc.call('appInfo', {})
  const b = rpc.image(5, 'thumb')
  assert.equal(sent.length, 2)
  const [ma, mb] = sent as [Extract<ToEngine, { type: 'call' }>, Extract<ToEngine, { type: 'image' }>]
  rpc.receive({ type: 'reply', id: mb.id, ok: true, value: { file: '/t.jpg', mime: 'image/jpeg' } })
  rpc.receive({ type: 'reply', id: ma.id, ok: false, error: { code: 'no_project', message: 'no project is open' } })
  assert.deepEqual(await b, { file: '/t.jpg', mime: 'image/jpeg' })
  await assert.rejects(a, (e: unknown) => e instanceof EngineError && e.code === 'no_project')
  rpc.receive({ type: 'event', event: { type: 'project:closed', path: '/p.qcdb' } })
  assert.deepEqual(events, [{ type: 'project:closed', path: '/p.qcdb' }])
  assert.equal(rpc.pendingCount, 0)
})

test('a crashed engine fails pending calls at once, and later calls until it is restarted', async () => {
  const rpc = new EngineRpc(() => {})
  const p = rpc.call('listRuns', {})
  rpc.failAll('the engine process exited unexpectedly (code 9)')
  await assert.rejects(p, /exited unexpectedly/)
  await assert.rejects(rpc.call('listRuns', {}), /not running/)
  const sent: ToEngine[] = []
  rpc.attach((m) => sent.push(m))
  const q = rpc.call('listRuns', {})
  rpc.receive({ type: 'reply', id: (sent[0] as { id: number }).id, ok: true, value: { runs: [] } })
  assert.deepEqual(await q, { runs: [] })
})
