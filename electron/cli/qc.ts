/**
 * `qc`: the command line over the engine. Every command is a thin layer over the same engine
 * modules that the web server and the desktop app call. Failures print one line `qc: <reason>`
 * and exit non-zero (1 for a failed operation, 2 for bad usage, 130 when cancelled by Ctrl-C).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { CancelledError } from '../engine/jobs/progress.ts'
import { cliReporter, type Reporter } from './progress-bar.ts'
import { commands, type CommandContext } from './commands.ts'

export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

const USAGE = `qc — clean noisy labels in inspection datasets (linear probe + PLL self-distillation)

Usage:
  qc demo [--out DIR]                         generate synthetic inspection data and run everything
  qc run --images DIR [--labels CSV] --out DIR [--backbone B] [--method auto|pll|teacher|sd|cl] [--seed S]
  qc run --features FILE.npy --labels CSV --out DIR [options]
      writes OUT/project.qcdb and OUT/refined.csv (path,given_label,refined_label,confidence,flagged,...)
      --method auto (default) picks teacher, SD or PLL by held-out validation on the given labels

  qc import  --project P (--images DIR | --csv FILE [--images DIR] | --features NPY --labels CSV [--backbone SPACE]) [--split train|test]
  qc extract --project P [--backbone NAME|FILE.onnx] [--ep cpu|cuda|dml|coreml] [--batch N]
  qc refine  --project P [--method auto|pll|teacher|sd|cl] [--rounds T] [--loss auto|gce|ce]
             [--lambda auto|X] [--solver lbfgs|sgd] [--engine ort|tfjs] [--seed S] [--bias] [--standardize]
             [--cross-fit]   out-of-fold refined labels (for few samples per feature dimension)
  qc validate --project P --out DIR [--noise none,symmetric,asymmetric,superclass] [--rates 0.2,0.5,0.8]
             [--seeds 0,1,2] [--methods teacher,sd,pll,cl] [--rounds T]
  qc export  --project P --out PATH [--format csv|json|imagefolder] [--hardlink] [--only-reviewed]
             [--auto-accept] [--run ID] [--force]
  qc info    --project P
  qc backbones [--project P]                  list the built-in, catalogue and registered backbones
  qc serve   [--port N] [--host H --allow-remote] [--data DIR]   web mode on http://127.0.0.1

Common options: --json (machine-readable output), --quiet, --help`

const OPTIONS: ParseArgsConfig['options'] = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  out: { type: 'string', short: 'o' },
  project: { type: 'string', short: 'p' },
  images: { type: 'string' },
  labels: { type: 'string' },
  csv: { type: 'string' },
  features: { type: 'string' },
  split: { type: 'string' },
  backbone: { type: 'string' },
  ep: { type: 'string' },
  batch: { type: 'string' },
  method: { type: 'string' },
  rounds: { type: 'string' },
  loss: { type: 'string' },
  lambda: { type: 'string' },
  solver: { type: 'string' },
  engine: { type: 'string' },
  seed: { type: 'string' },
  folds: { type: 'string' },
  'cross-fit': { type: 'boolean' },
  bias: { type: 'boolean' },
  standardize: { type: 'boolean' },
  noise: { type: 'string' },
  rates: { type: 'string' },
  seeds: { type: 'string' },
  methods: { type: 'string' },
  format: { type: 'string' },
  hardlink: { type: 'boolean' },
  'only-reviewed': { type: 'boolean' },
  'auto-accept': { type: 'boolean' },
  run: { type: 'string' },
  force: { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  data: { type: 'string' },
  'per-class': { type: 'string' },
}

/** Entry point; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE)
    return name ? 0 : 2
  }
  if (name === '--version' || name === 'version') {
    console.log(appVersion())
    return 0
  }
  const command = commands[name]
  if (!command) {
    console.error(`qc: unknown command '${name}' (try qc --help)`)
    return 2
  }
  let values: Record<string, string | boolean | undefined>
  try {
    const parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: false, strict: true })
    values = parsed.values as Record<string, string | boolean | undefined>
  } catch (e) {
    console.error(`qc ${name}: ${(e as Error).message.split('\n')[0]}`)
    return 2
  }
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const json = Boolean(values.json)
  const reporter: Reporter = values.quiet ? { progress: () => {}, done: () => {} } : cliReporter({ json })
  const abort = new AbortController()
  const onSigint = (): void => {
    if (abort.signal.aborted) process.exit(130)
    process.stderr.write('\nqc: cancelling after the current step (Ctrl-C again to quit now)\n')
    abort.abort()
  }
  process.on('SIGINT', onSigint)
  const ctx: CommandContext = {
    opts: values,
    json,
    progress: reporter.progress,
    signal: abort.signal,
    log: (line: string) => {
      reporter.done()
      if (!json) console.log(line)
    },
  }
  try {
    const result = await command(ctx)
    reporter.done()
    if (json && result !== undefined) console.log(JSON.stringify(result, null, 2))
    return 0
  } catch (e) {
    reporter.done()
    const err = e as Error
    if (err instanceof CancelledError || err.name === 'CancelledError') {
      console.error(`qc: ${err.message}; finished work is kept, run the same command again to resume`)
      return 130
    }
    if (err instanceof UsageError) {
      console.error(`qc ${name}: ${err.message}`)
      return 2
    }
    const line = (err.message || String(err)).split('\n')[0]
    if (json) console.log(JSON.stringify({ error: line }))
    console.error(`qc: ${line}`)
    if (process.env.QC_DEBUG) console.error(err.stack)
    return 1
  } finally {
    process.off('SIGINT', onSigint)
  }
}

export function appVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** Helpers shared by commands. */
export function requireOpt(ctx: CommandContext, name: string): string {
  const v = ctx.opts[name]
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`)
  return v
}

export function numberOpt(ctx: CommandContext, name: string): number | undefined {
  const v = ctx.opts[name]
  if (v === undefined) return undefined
  const n = Number(v)
  if (typeof v !== 'string' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${String(v)}'`)
  return n
}

export function listOpt(ctx: CommandContext, name: string): string[] | undefined {
  const v = ctx.opts[name]
  if (typeof v !== 'string') return undefined
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

export function ensureDir(dir: string): string {
  const abs = resolve(dir)
  mkdirSync(abs, { recursive: true })
  return abs
}

export function projectPath(ctx: CommandContext, mustExist = true): string {
  const p = resolve(requireOpt(ctx, 'project'))
  if (mustExist && !existsSync(p)) throw new Error(`${p}: no such project file (create one with qc import)`)
  return p
}

export { basename, join }
