import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseServeArgs } from '../../electron/server/serve-command.ts'
import { startServer } from '../../electron/server/server.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

test('serve binds loopback by default; another host needs --allow-remote', () => {
  const d = parseServeArgs([])
  assert.equal(d.host, '127.0.0.1')
  assert.equal(d.allowRemote, false)
  assert.equal(parseServeArgs(['--port', '8080']).port, 8080)
  assert.throws(() => parseServeArgs(['--host', '0.0.0.0']), /--allow-remote/)
  assert.equal(parseServeArgs(['--host', '0.0.0.0', '--allow-remote']).host, '0.0.0.0')
  assert.throws(() => parseServeArgs(['--port', 'x']), /--port must be an integer/)
  assert.throws(() => parseServeArgs(['--port']), /--port needs a value/)
  assert.throws(() => parseServeArgs(['--open-sesame']), /unknown option --open-sesame/)
})

test('startServer refuses a non-loopback host without allowRemote, and warns with it', async () => {
  await assert.rejects(startServer({ host: '0.0.0.0', dataDir: join(tmpdir(), 'qc-none') }), /refusing to bind 0\.0\.0\.0/)
  const warnings: string[] = []
  const s = await startServer({
    host: '0.0.0.0',
    allowRemote: true,
    port: 0,
    dataDir: join(tmpdir(), `qc-remote-${process.pid}`),
    webRoot: join(tmpdir(), 'qc-no-web'),
    warn: (m) => warnings.push(m),
  })
  try {
    assert.ok(
      warnings.some((w) => /WARNING: serving on 0\.0\.0\.0/.test(w)),
      warnings.join('\n'),
    )
    assert.match(s.url, /^http:\/\/0\.0\.0\.0:\d+\/\?token=[0-9a-f]{64}$/)
  } finally {
    await s.close()
  }
})
