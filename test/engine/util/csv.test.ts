import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { csvCell, formatCsv, parseCsv, readCsvTable } from '../../../electron/engine/util/csv.ts'

const cells = (text: string) => parseCsv(text).map((r) => r.cells)

test('parses quotes, embedded commas, newlines and doubled quotes', () => {
  const text = 'path,label\r\n"a,b.png","say ""hi"""\r\n"multi\nline.png",ok\n'
  assert.deepEqual(cells(text), [
    ['path', 'label'],
    ['a,b.png', 'say "hi"'],
    ['multi\nline.png', 'ok'],
  ])
})

test('drops a BOM, accepts LF, CRLF and CR line ends, skips blank lines, keeps empty fields', () => {
  assert.deepEqual(cells('\ufeffa,b\nc,\r\n\r\n,d\re,f'), [
    ['a', 'b'],
    ['c', ''],
    ['', 'd'],
    ['e', 'f'],
  ])
})

test('reports the line where a record starts', () => {
  const recs = parseCsv('h\n"x\ny"\nz\n')
  assert.deepEqual(
    recs.map((r) => r.line),
    [1, 2, 4],
  )
})

test('errors name the file and line', () => {
  assert.throws(() => parseCsv('a,b\n"open,c\n', 'm.csv'), /m\.csv:2: unterminated quoted field/)
  assert.throws(() => parseCsv('a,b\nx"y,c\n', 'm.csv'), /m\.csv:2: quote inside an unquoted field/)
  assert.throws(() => parseCsv('a,b\n"x"y,c\n', 'm.csv'), /m\.csv:2: unexpected character after a closing quote/)
})

test('readCsvTable checks columns and field counts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-csv-'))
  const f = join(dir, 'labels.csv')
  writeFileSync(f, 'Path, Label ,split\na.png,ok,train\n')
  const t = readCsvTable(f, { required: ['path', 'label'] })
  assert.equal(t.col('label'), 1)
  assert.equal(t.col('trusted_label'), -1)
  assert.equal(t.rows[0]!.cells[2], 'train')
  assert.throws(() => readCsvTable(f, { required: ['path', 'id'] }), new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1: missing column id`))
  writeFileSync(f, 'path,label\na.png\n')
  assert.throws(() => readCsvTable(f), /labels\.csv:2: 1 fields, the header has 2/)
  assert.throws(() => readCsvTable(join(dir, 'nope.csv')), /nope\.csv: cannot read CSV \(ENOENT\)/)
})

test('writer guards against formula injection but keeps numbers numeric', () => {
  assert.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`)
  assert.equal(csvCell('+1+2 cells'), "'+1+2 cells")
  assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)")
  assert.equal(csvCell('-cmd'), "'-cmd")
  assert.equal(csvCell('\tx'), "'\tx")
  assert.equal(csvCell('-0.5'), '-0.5')
  assert.equal(csvCell('+3e-4'), '+3e-4')
  assert.equal(csvCell(-0.5), '-0.5')
  assert.equal(csvCell(null), '')
  assert.equal(csvCell('plain'), 'plain')
})

test('write then read gives the same cells back', () => {
  const rows = [
    ['path', 'label'],
    ['dir/é 中文 🙂.png', 'a "b", c'],
    ['x\r\ny', ''],
  ]
  assert.deepEqual(cells(formatCsv(rows)), rows)
})

test('unguardCell reverses the formula guard only', async () => {
  const { unguardCell } = await import('../../../electron/engine/util/csv.ts')
  assert.equal(unguardCell(parseCsv(csvCell('=1+2'))[0]!.cells[0]!), '=1+2')
  assert.equal(unguardCell("'quoted"), "'quoted")
  assert.equal(unguardCell('-0.5'), '-0.5')
})
