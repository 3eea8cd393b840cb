/**
 * CSV as RFC 4180 defines it: fields separated by commas, records by CRLF (a lone LF or CR is
 * accepted too), fields that contain commas, quotes or line breaks enclosed in double quotes, a
 * quote inside a quoted field doubled. A UTF-8 byte-order mark at the start is dropped (Excel
 * writes one). Errors name the file and the 1-based line where the bad record starts.
 */
import { readFileSync } from 'node:fs'

/** One parsed record with the line (1-based) it starts on. */
export interface CsvRecord {
  line: number
  cells: string[]
}

/** Parses CSV text. `file` only labels error messages. Blank lines are skipped. */
export function parseCsv(text: string, file = '<csv>'): CsvRecord[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const out: CsvRecord[] = []
  let i = 0
  let line = 1
  const n = text.length
  while (i < n) {
    const startLine = line
    const cells: string[] = []
    // One record.
    for (;;) {
      let cell = ''
      if (text[i] === '"') {
        i++
        for (;;) {
          if (i >= n) throw new Error(`${file}:${startLine}: unterminated quoted field`)
          const c = text[i]!
          if (c === '"') {
            if (text[i + 1] === '"') {
              cell += '"'
              i += 2
              continue
            }
            i++
            break
          }
          if (c === '\n') line++
          else if (c === '\r' && text[i + 1] !== '\n') line++
          cell += c
          i++
        }
        const next = text[i]
        if (i < n && next !== ',' && next !== '\n' && next !== '\r') {
          throw new Error(`${file}:${line}: unexpected character after a closing quote (a quote inside a field must be doubled)`)
        }
      } else {
        const start = i
        while (i < n) {
          const c = text[i]!
          if (c === ',' || c === '\n' || c === '\r') break
          if (c === '"') throw new Error(`${file}:${line}: quote inside an unquoted field (quote the whole field and double the quote)`)
          i++
        }
        cell = text.slice(start, i)
      }
      cells.push(cell)
      if (i >= n) break
      const c = text[i]
      if (c === ',') {
        i++
        continue
      }
      // End of record: CRLF, LF or CR.
      if (c === '\r' && text[i + 1] === '\n') i += 2
      else i++
      line++
      break
    }
    if (!(cells.length === 1 && cells[0] === '')) out.push({ line: startLine, cells })
  }
  return out
}

/** A CSV file with a header row; column names are matched case-insensitively after trimming. */
export interface CsvTable {
  file: string
  header: string[]
  /** Index of a column by (lower-case) name, or -1. */
  col(name: string): number
  rows: CsvRecord[]
}

/**
 * Reads a CSV file with a header. `required` columns must be present (error names the file and
 * what is missing); every row must have as many cells as the header.
 */
export function readCsvTable(file: string, opts: { required?: string[] } = {}): CsvTable {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new Error(`${file}: cannot read CSV (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  // Errors say what is wrong and where, never what the file holds: the file may not be a CSV at all.
  if (text.includes('\0')) throw new Error(`${file}: not a CSV file (it holds binary data)`)
  const recs = parseCsv(text, file)
  const head = recs.shift()
  if (!head) throw new Error(`${file}: empty CSV (no header row)`)
  const header = head.cells.map((h) => h.trim().toLowerCase())
  const index = new Map<string, number>()
  header.forEach((h, j) => {
    if (!index.has(h)) index.set(h, j)
  })
  const missing = (opts.required ?? []).filter((c) => !index.has(c.toLowerCase()))
  if (missing.length) {
    throw new Error(
      `${file}:1: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} in the header row (the first line; it has ${header.length} column${header.length === 1 ? '' : 's'})`,
    )
  }
  for (const r of recs) {
    if (r.cells.length !== header.length) {
      throw new Error(`${file}:${r.line}: ${r.cells.length} fields, the header has ${header.length}`)
    }
  }
  return { file, header, col: (name) => index.get(name.toLowerCase()) ?? -1, rows: recs }
}

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/
// Spreadsheets treat a cell starting with one of these as a formula (OWASP "CSV injection").
const FORMULA_START = /^[=+\-@\t\r]/

export type CsvValue = string | number | boolean | null | undefined

/**
 * Formats one cell: numbers as written, null/undefined as empty, strings quoted when needed. A
 * string a spreadsheet would run as a formula (starts with = + - @ tab or CR) gets a leading
 * single quote, unless it is a plain number such as -0.5, which stays numeric.
 */
export function csvCell(v: CsvValue): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : ''
  if (typeof v === 'boolean') return v ? '1' : '0'
  let s = v
  if (FORMULA_START.test(s) && !NUMERIC.test(s)) s = `'${s}`
  if (/[",\r\n]/.test(s)) s = `"${s.replace(/"/g, '""')}"`
  return s
}

/**
 * Undoes csvCell's formula guard when reading our own files back: a cell that is a single quote
 * followed by = + - @ tab or CR loses the quote. (A real value starting that way is implausible
 * for paths and labels.)
 */
export function unguardCell(s: string): string {
  return s.length > 1 && s[0] === "'" && FORMULA_START.test(s.slice(1)) ? s.slice(1) : s
}

/** Formats rows as CSV text with CRLF line ends (RFC 4180). */
export function formatCsv(rows: CsvValue[][]): string {
  let out = ''
  for (const r of rows) out += r.map(csvCell).join(',') + '\r\n'
  return out
}
