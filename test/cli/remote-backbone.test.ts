// `qc extract --backbone http://…/v2/models/NAME` as a user runs it: a child process against the
// KServe v2 server of the engine tests (async spawn: the server answers from this process).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { startKServe } from '../engine/backbone/kserve-server.ts'
import { fixture } from '../engine/backbone/remote-fixture.ts'

const QC = new URL('../../bin/qc.mjs', import.meta.url).pathname

function qc(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [QC, ...args], { env: { ...process.env, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

test('qc extract with a remote backbone: the token flag is sent and never printed; a bad URL is a one-line error', async () => {
  const f = await fixture(6, { project: false })
  f.db.close()
  const token = 'cli-token-123'
  const server = await startKServe({ modelFile: f.model, name: 'conv3', token })
  try {
    const imp = await qc(['import', '--project', f.project, '--images', f.root])
    assert.equal(imp.code, 0, imp.stderr)
    const r = await qc(['extract', '--project', f.project, '--backbone', server.url, '--backbone-token', token, '--backbone-requests', '2', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as { backbone: string; summary: { computed: number; executionProvider: string } }
    assert.equal(out.backbone, 'conv3')
    assert.equal(out.summary.computed, 6)
    assert.equal(out.summary.executionProvider, `remote ${server.origin}`)
    assert.ok(server.requests.every((q) => q.headers.authorization === `Bearer ${token}`))
    assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token))

    // Without the token the server's 401 comes back as one line naming the server.
    const g = await fixture(2, { project: false })
    g.db.close()
    try {
      await qc(['import', '--project', g.project, '--images', g.root])
      const denied = await qc(['extract', '--project', g.project, '--backbone', server.url])
      assert.equal(denied.code, 1)
      assert.match(
        denied.stderr,
        new RegExp(`qc: remote backbone ${server.origin.replace(/\./g, '\\.')} model 'conv3': the metadata request answered HTTP 401`),
      )
      const bad = await qc(['extract', '--project', g.project, '--backbone', `${server.origin}/models/conv3`])
      assert.equal(bad.code, 1)
      assert.match(bad.stderr, /expected http\(s\):\/\/HOST:PORT\/v2\/models\/NAME/)
    } finally {
      rmSync(g.dir, { recursive: true, force: true })
    }
  } finally {
    await server.close()
    rmSync(f.dir, { recursive: true, force: true })
  }
})
