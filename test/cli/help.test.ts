// `qc`'s parsing as a user meets it: generated help per command, one-line usage errors with exit
// 2, --version, the README's command lines, and `qc serve`'s host guard.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const QC = new URL('../../bin/qc.mjs', import.meta.url).pathname
const README = new URL('../../README.md', import.meta.url).pathname

function qc(args: string[]) {
  const r = spawnSync(process.execPath, [QC, ...args], { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The long option names a help text lists (in its Options section). */
function helpOptions(text: string): Set<string> {
  const section = text.slice(text.indexOf('Options:'))
  return new Set([...section.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!))
}

test('qc --help lists every command; each command help lists its own options and not the others', () => {
  const top = qc(['--help'])
  assert.equal(top.code, 0, top.stderr)
  for (const c of ['demo', 'run', 'import', 'extract', 'refine', 'validate', 'export', 'info', 'backbones', 'serve']) {
    assert.match(top.stdout, new RegExp(`^  ${c}\\b`, 'm'), `qc --help lists ${c}`)
  }
  const expected: Record<string, { has: string[]; not: string[] }> = {
    demo: { has: ['--out', '--per-class', '--seed'], not: ['--project', '--lambda'] },
    run: {
      has: ['--images', '--labels', '--features', '--out', '--backbone', '--method', '--lambda', '--cross-fit', '--ep'],
      not: ['--csv', '--hardlink'],
    },
    import: { has: ['--project', '--images', '--csv', '--features', '--labels', '--backbone', '--split'], not: ['--method', '--out'] },
    extract: { has: ['--project', '--backbone', '--ep', '--batch'], not: ['--method', '--images'] },
    refine: {
      has: ['--project', '--method', '--rounds', '--loss', '--lambda', '--solver', '--engine', '--seed', '--bias', '--standardize', '--cross-fit'],
      not: ['--hardlink', '--port', '--images', '--out'],
    },
    validate: { has: ['--project', '--out', '--noise', '--rates', '--seeds', '--methods', '--rounds', '--lambda'], not: ['--format', '--cross-fit'] },
    export: {
      has: ['--project', '--out', '--format', '--hardlink', '--only-reviewed', '--auto-accept', '--run', '--force'],
      not: ['--lambda', '--method'],
    },
    info: { has: ['--project'], not: ['--out', '--method'] },
    backbones: { has: ['--project'], not: ['--out'] },
    serve: { has: ['--port', '--host', '--allow-remote', '--data', '--root', '--no-build'], not: ['--project', '--method'] },
  }
  for (const [name, { has, not }] of Object.entries(expected)) {
    const r = qc([name, '--help'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^Usage: qc ${name}\\b`))
    const opts = helpOptions(r.stdout)
    for (const o of [...has, '--json', '--quiet', '--help']) assert.ok(opts.has(o), `qc ${name} --help lists ${o}:\n${r.stdout}`)
    for (const o of not) assert.ok(!opts.has(o), `qc ${name} --help does not list ${o}`)
  }
  // Required options are in the usage line.
  assert.match(qc(['export', '--help']).stdout, /^Usage: qc export --project <file> --out <path> \[options\]/)
  // `qc help <command>` is the same help.
  assert.equal(qc(['help', 'refine']).stdout, qc(['refine', '--help']).stdout)
})

test('every flag the README shows for a command is one that command takes', () => {
  const readme = readFileSync(README, 'utf8')
  const lines = [...readme.matchAll(/(?:`|npx )qc (\w+)([^`\n]*)/g)]
  assert.ok(lines.length >= 10, 'README command lines found')
  const help = new Map<string, Set<string>>()
  for (const [, name, rest] of lines) {
    if (!help.has(name!)) {
      const r = qc([name!, '--help'])
      assert.equal(r.code, 0, `README names qc ${name}: ${r.stderr}`)
      help.set(name!, helpOptions(r.stdout))
    }
    for (const [flag] of rest!.matchAll(/--[a-z][a-z-]*/g)) assert.ok(help.get(name!)!.has(flag), `README: qc ${name} ${flag}`)
  }
})

test('bad usage exits 2 with one line that names the command and the problem, before anything is written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-usage-'))
  const project = join(dir, 'p.qcdb')
  const cases: [string[], RegExp][] = [
    [['refine', '--project', project, '--frobnicate'], /^qc refine: unknown option '--frobnicate'/],
    [['refine', '--projcet', project], /^qc refine: unknown option '--projcet'/],
    [['refine', '--project', project, '--method', 'magic'], /^qc refine: .*--method.*'magic'.*auto, teacher, sd, pll, cl/],
    [['refine', '--project', project, '--lambda', 'lots'], /^qc refine: .*--lambda.*'lots'/],
    [['refine', '--project', project, '--rounds', '11'], /^qc refine: .*--rounds.*1\.\.10/],
    [['refine'], /^qc refine: required option '-p, --project <file>' not specified/],
    [['export', '--project', project], /^qc export: required option '-o, --out <path>'/],
    [['export', '--project', project, '--out', join(dir, 'x'), '--lambda', '1'], /^qc export: unknown option '--lambda'/],
    [['validate', '--project', project, '--out', dir, '--rates', '0.2,1.5'], /^qc validate: .*--rates.*\[0, 0\.95\]/],
    [['validate', '--project', project, '--out', dir, '--noise', 'pink'], /^qc validate: .*--noise.*'pink' is not one of none, symmetric/],
    [['import', '--project', project], /^qc import: name what to import/],
    [['import', '--project', project, '--features', join(dir, 'x.npy')], /^qc import: --features needs --labels/],
    [['import', '--project', project, '--images', join(dir, 'no-such-folder')], /^qc import: .*no-such-folder: no such folder/],
    [['import', '--project', project, '--csv', join(dir, 'no.csv')], /^qc import: .*no\.csv: no such file/],
    [['import', '--project', project, '--features', join(dir, 'x.npy'), '--labels', join(dir, 'l.csv')], /^qc import: .*x\.npy: no such file/],
    [['info', '--project', project, 'extra'], /^qc info: too many arguments/],
    [['serve', '--port', '70000'], /^qc serve: .*--port.*0\.\.65535/],
    [['serve', '--host', '0.0.0.0'], /^qc serve: --host 0\.0\.0\.0 is reachable from other machines: add --allow-remote/],
    [['serve', '--root', join(dir, 'no-such-folder')], /^qc serve: --root .*no-such-folder: no such folder/],
    [['frobnicate'], /^qc: unknown command 'frobnicate' \(try qc --help\)/],
  ]
  for (const [args, re] of cases) {
    const r = qc(args)
    assert.equal(r.code, 2, `qc ${args.join(' ')}: ${r.stderr}`)
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines.length, 1, `one line for qc ${args.join(' ')}:\n${r.stderr}`)
    assert.match(lines[0]!, re)
    assert.equal(r.stdout, '')
  }
  assert.ok(!existsSync(project), 'no project file was created')
  // No command at all: the usage, and exit 2.
  const none = qc([])
  assert.equal(none.code, 2)
  assert.match(none.stdout, /^Usage: qc <command>/)
})

test('qc --version and qc version print the package version', () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  for (const args of [['--version'], ['-V'], ['version']]) {
    const r = qc(args)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.trim(), version)
  }
})

test('qc serve --host 0.0.0.0 --allow-remote warns, prints the URL with its token, and stops on Ctrl-C with exit 0', async () => {
  const data = mkdtempSync(join(tmpdir(), 'qc-serve-'))
  const root = mkdtempSync(join(tmpdir(), 'qc-serve-root-'))
  const child = spawn(
    process.execPath,
    [QC, 'serve', '--host', '0.0.0.0', '--allow-remote', '--port', '0', '--data', data, '--root', root, '--no-build'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stdout = ''
  let stderr = ''
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 60 s; stderr: ${stderr}`)), 60_000)
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString()
      const m = /open (http:\/\/\S+)/.exec(stdout)
      if (m && /files: .*\n/.test(stdout)) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
    child.on('exit', (c) => reject(new Error(`qc serve exited ${c}: ${stderr}`)))
  })
  assert.match(url, /^http:\/\/0\.0\.0\.0:\d+\/\?token=[0-9a-f]{64}$/)
  assert.match(stderr, /WARNING: serving on 0\.0\.0\.0/)
  // Confined: the API may use the data folder and the --root folders only, and says so.
  assert.ok(stdout.includes(`files: only under ${data}, ${root}`), stdout)
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', (c) => resolve(c))
    child.kill('SIGINT')
  })
  assert.equal(code, 0, stderr)
})
