import { test } from 'node:test'
import assert from 'node:assert/strict'
import { contentSecurityPolicy } from '../../shared/csp.ts'

function directives(csp: string): Map<string, string[]> {
  return new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .map(([k, ...v]) => [k!, v]),
  )
}

test('strict CSP: own scripts only, no eval or inline script, no plugins or framing', () => {
  for (const mode of ['web', 'electron'] as const) {
    const d = directives(contentSecurityPolicy({ mode }))
    assert.deepEqual(d.get('script-src'), ["'self'"])
    assert.deepEqual(d.get('default-src'), ["'self'"])
    assert.deepEqual(d.get('object-src'), ["'none'"])
    assert.deepEqual(d.get('frame-ancestors'), ["'none'"])
    assert.deepEqual(d.get('base-uri'), ["'none'"])
    assert.ok(!contentSecurityPolicy({ mode }).includes('unsafe-eval'))
  }
  assert.ok(
    directives(contentSecurityPolicy({ mode: 'electron' }))
      .get('img-src')!
      .includes('qc-img:'),
  )
  assert.ok(
    !directives(contentSecurityPolicy({ mode: 'web' }))
      .get('img-src')!
      .includes('qc-img:'),
  )
})

test('dev mode allows only the dev server in addition', () => {
  const d = directives(contentSecurityPolicy({ mode: 'electron', dev: true, devServer: 'http://localhost:5173' }))
  assert.deepEqual(d.get('script-src'), ["'self'", 'http://localhost:5173'])
  assert.ok(d.get('connect-src')!.includes('ws://localhost:5173'))
})
