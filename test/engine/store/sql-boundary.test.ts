// Every SQL statement lives in a repository under electron/engine/store/: no other file under
// electron/ may call `.prepare(`, `.exec(` or `.pragma(` on a database. Files are parsed with the
// TypeScript compiler (so comments and strings do not count); `.exec(` on a regular expression
// (a literal, `new RegExp(...)`, or a const holding one) is not SQL and is allowed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..')
const STORE = 'electron/engine/store/'
const SQL_METHODS = new Set(['prepare', 'exec', 'pragma'])

function tsFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...tsFiles(p))
    else if (e.isFile() && e.name.endsWith('.ts')) out.push(p)
  }
  return out
}

function unwrap(e: ts.Expression): ts.Expression {
  while (ts.isParenthesizedExpression(e) || ts.isAsExpression(e) || ts.isNonNullExpression(e)) e = e.expression
  return e
}

function isRegExp(e: ts.Expression, regexConsts: Set<string>): boolean {
  const x = unwrap(e)
  if (x.kind === ts.SyntaxKind.RegularExpressionLiteral) return true
  if ((ts.isNewExpression(x) || ts.isCallExpression(x)) && ts.isIdentifier(x.expression) && x.expression.text === 'RegExp') return true
  return ts.isIdentifier(x) && regexConsts.has(x.text)
}

/** `line: code` for every database call (`.prepare(`, `.exec(`, `.pragma(`) in a TypeScript source. */
export function sqlCalls(source: string, fileName = 'probe.ts'): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  // Names bound to a regular expression by a const declaration anywhere in the file.
  const regexConsts = new Set<string>()
  const collect = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer && isRegExp(n.initializer, new Set())) regexConsts.add(n.name.text)
    ts.forEachChild(n, collect)
  }
  collect(sf)
  const lines = source.split('\n')
  const hits: string[] = []
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n)) {
      const callee = unwrap(n.expression)
      let method: ts.Identifier | ts.StringLiteralLike | ts.PrivateIdentifier | undefined
      let receiver: ts.Expression | undefined
      if (ts.isPropertyAccessExpression(callee)) {
        method = callee.name
        receiver = callee.expression
      } else if (ts.isElementAccessExpression(callee) && ts.isStringLiteralLike(callee.argumentExpression)) {
        method = callee.argumentExpression
        receiver = callee.expression
      }
      if (method && receiver && SQL_METHODS.has(method.text) && !(method.text === 'exec' && isRegExp(receiver, regexConsts))) {
        // The line of the method name (a chained `db\n  .prepare(` reports the `.prepare(` line).
        const { line } = sf.getLineAndCharacterOfPosition(method.getStart(sf))
        hits.push(`${line + 1}: ${lines[line]!.trim().slice(0, 120)}`)
      }
    }
    ts.forEachChild(n, visit)
  }
  visit(sf)
  return hits
}

test('the detector finds database calls in every form and leaves regular expressions alone', () => {
  const probe = [
    "db.prepare('SELECT 1').get()",
    'this.db.exec(sql)',
    "db['prepare']('SELECT 2');",
    "(db as Db).pragma('foreign_keys = ON')",
    '// db.prepare in a comment',
    "const s = 'db.prepare(x)'",
    'const m = /^a(b)$/.exec(text)',
    "const n = new RegExp('x').exec(text)",
    'const RE = /y/',
    'RE.exec(text)',
    'other.exec(text)',
  ].join('\n')
  assert.deepEqual(sqlCalls(probe), [
    "1: db.prepare('SELECT 1').get()",
    '2: this.db.exec(sql)',
    "3: db['prepare']('SELECT 2');",
    "4: (db as Db).pragma('foreign_keys = ON')",
    '11: other.exec(text)',
  ])
})

test('no SQL outside electron/engine/store/: every statement is in a repository there', () => {
  const files = tsFiles(join(root, 'electron'))
  assert.ok(files.length > 50, `expected the electron/ sources, found ${files.length} .ts files`)
  const offenders: string[] = []
  let inStore = 0
  for (const abs of files) {
    const rel = relative(root, abs).split(sep).join('/')
    const hits = sqlCalls(readFileSync(abs, 'utf8'), abs)
    if (rel.startsWith(STORE)) {
      inStore += hits.length
      continue
    }
    for (const h of hits) offenders.push(`${rel}:${h}`)
  }
  // The detector is live: the repositories themselves are full of statements.
  assert.ok(inStore > 20, `expected the store's statements to be found, found ${inStore}`)
  assert.deepEqual(offenders, [], `SQL outside ${STORE} (move it into a repository there):\n${offenders.join('\n')}`)
})
