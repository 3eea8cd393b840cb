import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fitToDisplays, loadBounds, saveBounds } from '../../electron/main/window-state.ts'

test('bounds survive a save and load; junk files are ignored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-winstate-'))
  try {
    const f = join(dir, 'sub', 'window-state.json')
    assert.equal(loadBounds(f), undefined)
    saveBounds(f, { x: 100, y: 50, width: 1200, height: 800, maximized: true })
    assert.deepEqual(loadBounds(f), { x: 100, y: 50, width: 1200, height: 800, maximized: true })
    writeFileSync(f, '{not json')
    assert.equal(loadBounds(f), undefined)
    writeFileSync(f, JSON.stringify({ width: 'wide', height: 10 }))
    assert.equal(loadBounds(f), undefined)
    writeFileSync(f, JSON.stringify({ width: 50, height: 50 }))
    assert.equal(loadBounds(f), undefined, 'too small to be usable')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a window on an unplugged monitor loses its position; an oversized one shrinks', () => {
  const screens = [{ x: 0, y: 0, width: 1920, height: 1040 }]
  assert.deepEqual(fitToDisplays({ x: 100, y: 100, width: 1200, height: 800 }, screens), { x: 100, y: 100, width: 1200, height: 800 })
  assert.deepEqual(fitToDisplays({ x: 2500, y: 100, width: 1200, height: 800 }, screens), { width: 1200, height: 800 })
  assert.deepEqual(fitToDisplays({ x: 100, y: -500, width: 1200, height: 800 }, screens), { width: 1200, height: 800 })
  assert.deepEqual(fitToDisplays({ width: 4000, height: 3000 }, screens), { width: 1920, height: 1040 })
  const two = [...screens, { x: 1920, y: 0, width: 1280, height: 1000 }]
  assert.deepEqual(fitToDisplays({ x: 2500, y: 100, width: 1000, height: 800 }, two), { x: 2500, y: 100, width: 1000, height: 800 })
})
