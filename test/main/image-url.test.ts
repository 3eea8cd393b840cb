import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseImageUrl } from '../../electron/main/image-url.ts'

test('qc-img URLs name a sample id and a size, nothing else', () => {
  assert.deepEqual(parseImageUrl('qc-img://sample/42?size=thumb'), { sampleId: 42, size: 'thumb' })
  assert.deepEqual(parseImageUrl('qc-img://sample/42?size=full'), { sampleId: 42, size: 'full' })
  assert.deepEqual(parseImageUrl('qc-img://sample/7'), { sampleId: 7, size: 'thumb' })
})

test('paths, traversal and other hosts are refused', () => {
  for (const u of [
    'qc-img://sample/../../etc/passwd',
    'qc-img://sample/%2e%2e/%2e%2e/etc/passwd',
    'qc-img://sample/1/../2',
    'qc-img://sample//etc/passwd',
    'qc-img://sample/C:/Windows/win.ini',
    'qc-img://sample/0',
    'qc-img://sample/-3',
    'qc-img://sample/1e3',
    'qc-img://sample/99999999999999999999',
    'qc-img://sample/12?size=huge',
    'qc-img://file/12',
    'qc-img:///etc/passwd',
    'file:///etc/passwd',
    'https://example.com/sample/1',
    'garbage',
  ]) {
    assert.equal(parseImageUrl(u), null, u)
  }
})
