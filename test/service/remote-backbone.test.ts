/**
 * Remote backbones through the service: the desktop app (unconfined) may use any inference
 * server; web mode only those its operator named (`qc serve --allow-backbone-server`), for a new
 * backbone and for one registered elsewhere; a refusal is 'forbidden' and sends no request.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { createService } from '../../electron/service/service.ts'
import { ensureBackbone } from '../../electron/engine/backbone/backbone.ts'
import type { BackboneInfo, ContractError } from '../../shared/contract.ts'
import { startKServe } from '../engine/backbone/kserve-server.ts'
import { fixture } from '../engine/backbone/remote-fixture.ts'

test('addRemoteBackbone and extraction: any server in the desktop app, only allowed servers in web mode', async () => {
  const f = await fixture(3)
  const server = await startKServe({ modelFile: f.model, name: 'conv3' })
  try {
    // A backbone registered by the CLI, before any service sees the project.
    const cliRow = await ensureBackbone(f.db, `${server.url}/versions/1`)
    f.db.close()

    const desktop = createService({ dataDir: join(f.dir, 'data-app'), mode: 'electron' })
    await desktop.call('openProject', { path: f.project })
    const b = (await desktop.call('addRemoteBackbone', { url: server.url })) as BackboneInfo
    assert.equal(b.kind, 'remote')
    assert.equal(b.modelPath, server.url)
    assert.equal(b.dim, 4)
    await desktop.call('closeProject', {})

    const web = createService({ dataDir: join(f.dir, 'data-web'), mode: 'web', roots: [f.dir] })
    await web.call('openProject', { path: f.project })
    const before = server.requests.length
    await assert.rejects(web.call('addRemoteBackbone', { url: `${server.origin}/v2/models/other` }), (e: ContractError) => {
      assert.equal(e.code, 'forbidden')
      assert.match(e.message, new RegExp(`qc serve --allow-backbone-server ${server.origin.replace(/\./g, '\\.')}`))
      return true
    })
    await assert.rejects(web.call('extractFeatures', { backboneId: cliRow.id }), (e: ContractError) => e.code === 'forbidden')
    assert.equal(server.requests.length, before, 'a refusal sends nothing')
    await web.call('closeProject', {})

    const allowed = createService({ dataDir: join(f.dir, 'data-web2'), mode: 'web', roots: [f.dir], backboneServers: [`${server.origin}/`] })
    await allowed.call('openProject', { path: f.project })
    const again = (await allowed.call('addRemoteBackbone', { url: server.url })) as BackboneInfo
    assert.equal(again.id, b.id)
    await allowed.call('closeProject', {})
  } finally {
    await server.close()
    rmSync(f.dir, { recursive: true, force: true })
  }
})
