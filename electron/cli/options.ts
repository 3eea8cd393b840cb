/**
 * What the `qc` commands share: the context a command runs in, the error for bad usage, option
 * value parsers (commander calls them while parsing, so a bad value fails before any work
 * starts), and the options several commands take.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { InvalidArgumentError, Option, type Command, type OptionValues } from 'commander'
import type { Progress } from '../engine/jobs/progress.ts'
import { openDb, type Db } from '../engine/store/db.ts'
import { VALIDATION_LIMITS } from '../../shared/contract.ts'

/** Bad usage found after parsing (a combination of options): exit 2 with `qc <command>: <message>`. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** What a command gets besides its options. */
export interface CommandContext {
  /** --json: the result goes to stdout as JSON, progress to stderr as JSON lines. */
  json: boolean
  progress: Progress
  /** Aborted by Ctrl-C. */
  signal: AbortSignal
  /** A line for people (stdout; nothing with --json). */
  log: (line: string) => void
}

/** One `qc` subcommand: its options (commander generates its help) and what it does. */
export interface CommandSpec<O = OptionValues> {
  name: string
  /** One line for `qc --help`. */
  summary: string
  /** Adds the command's own options (--json, --quiet and --help are added for every command). */
  options: (cmd: Command) => void
  /** Runs the command; the returned value is printed with --json. */
  run: (opts: O, ctx: CommandContext) => Promise<unknown>
}

/** Declares a command whose options arrive typed as `O` (commander's values, by camelCased long name). */
export function defineCommand<O>(spec: CommandSpec<O>): CommandSpec {
  return spec as unknown as CommandSpec
}

export function appVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

// --- value parsers -----------------------------------------------------------------------------

/** An integer in [min, max]. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v) => {
    const n = Number(v)
    if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}` : `expected an integer ${min}..${max}`)
    return n
  }
}

/** 'auto' or a number >= 0 (the regularisation strength). */
export function lambdaValue(v: string): number | 'auto' {
  if (v === 'auto') return 'auto'
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expected 'auto' or a number >= 0")
  return n
}

/** A comma-separated list, each item checked by `item`. */
export function list<T>(item: (s: string) => T): (v: string) => T[] {
  return (v) => {
    const items = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
    if (items.length === 0) throw new InvalidArgumentError('expected a comma-separated list')
    return items.map(item)
  }
}

/** One of `allowed` (for list items; single values use Option.choices). */
export function oneOf<T extends string>(allowed: readonly T[]): (v: string) => T {
  return (v) => {
    if (!(allowed as readonly string[]).includes(v)) throw new InvalidArgumentError(`'${v}' is not one of ${allowed.join(', ')}`)
    return v as T
  }
}

/** A noise rate in [0, VALIDATION_LIMITS.maxRate] (the limit the engine and the app use). */
export function rate(v: string): number {
  const n = Number(v)
  const max = VALIDATION_LIMITS.maxRate
  if (v.trim() === '' || !(n >= 0 && n <= max)) throw new InvalidArgumentError(`rates must be numbers in [0, ${max}], got '${v}'`)
  return n
}

// --- options several commands take ------------------------------------------------------------

const REQUIRED = new WeakMap<Command, Option[]>()

/**
 * Adds an option the command cannot run without. Checked in a preAction hook (checkRequired)
 * rather than by commander's requiredOption, which reports a missing option before an unknown
 * one: `qc refine --projcet p` should say '--projcet' is unknown, not that --project is missing.
 */
export function requiredOption(cmd: Command, flags: string, description: string): Command {
  const o = new Option(flags, `${description} (required)`)
  REQUIRED.set(cmd, [...(REQUIRED.get(cmd) ?? []), o])
  return cmd.addOption(o)
}

/** The command's required options, in the order they were declared. */
export function requiredOptions(cmd: Command): readonly Option[] {
  return REQUIRED.get(cmd) ?? []
}

/** Fails (as commander fails on bad usage) when a required option was not given. */
export function checkRequired(cmd: Command): void {
  for (const o of requiredOptions(cmd)) {
    if (cmd.getOptionValue(o.attributeName()) === undefined)
      cmd.error(`required option '${o.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue' })
  }
}

/** --project P: the project file (.qcdb). */
export function projectOption(cmd: Command, how: 'required' | 'optional' = 'required', what = 'project file (.qcdb)'): Command {
  return how === 'required' ? requiredOption(cmd, '-p, --project <file>', what) : cmd.option('-p, --project <file>', what)
}

export const METHODS = ['auto', 'teacher', 'sd', 'pll', 'cl'] as const

/** The refinement options of `qc refine` and `qc run`. */
export interface RefineFlags {
  method: (typeof METHODS)[number]
  rounds?: number
  loss: 'auto' | 'gce' | 'ce'
  lambda: number | 'auto'
  solver?: 'lbfgs' | 'sgd'
  engine?: 'ort' | 'tfjs'
  ep?: string
  seed: number
  folds?: number
  bias?: boolean
  standardize?: boolean
  crossFit?: boolean
  useReviews?: boolean
}

export function refineOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--method <m>', 'auto picks teacher, SD or PLL by held-out validation on the given labels; cl = confident learning')
        .choices(METHODS)
        .default('auto'),
    )
    .addOption(new Option('--rounds <t>', 'self-distillation rounds (sd; auto tries 1..3)').argParser(integer(1, 10)))
    .addOption(new Option('--loss <l>', 'PLL loss: generalised CE or CE on (½, ½)').choices(['auto', 'gce', 'ce']).default('auto'))
    .addOption(new Option('--lambda <x>', "L2 regularisation: 'auto' (held-out selection) or a number >= 0").argParser(lambdaValue).default('auto'))
    .addOption(new Option('--solver <s>', 'optimiser of the linear probe').choices(['lbfgs', 'sgd']))
    .addOption(new Option('--engine <e>', 'training engine').choices(['ort', 'tfjs']))
    .addOption(new Option('--ep <provider>', 'execution provider: cpu, webgpu, cuda, dml, coreml'))
    .addOption(new Option('--seed <s>', 'random seed').argParser(integer(0)).default(0))
    .addOption(new Option('--folds <k>', 'folds of the held-out selection').argParser(integer(2)))
    .option('--bias', 'fit an intercept')
    .option('--standardize', 'standardise the features first')
    .option('--cross-fit', 'out-of-fold refined labels (for few samples per feature dimension)')
    .option(
      '--use-reviews',
      "train on the project's review decisions as clean labels (accept, relabel, keep; excluded samples left out); reviewed samples keep their decision and are not flagged again",
    )
}

/** The extraction options of `qc extract` and `qc run` (run shares --ep with refinement). */
export function extractOptions(cmd: Command, withEp = true): Command {
  cmd.option(
    '--backbone <b>',
    "'builtin' (default), a catalogue id, an .onnx file, a backbone registered in the project, or a model on a KServe v2 / Triton server: http://HOST:PORT/v2/models/NAME[/versions/V]",
  )
  cmd.option(
    '--backbone-token <token>',
    'token for a remote backbone, sent as Authorization: Bearer (QC_BACKBONE_TOKEN does the same without showing it in the process list)',
  )
  cmd.addOption(new Option('--backbone-requests <n>', 'requests in flight to a remote backbone (default 4)').argParser(integer(1, 64)))
  cmd.option(
    '--feature-layer <name>',
    "the model tensor to take features from: 'penultimate' (the input of the classifier head; the default where the model has one), 'output', or a tensor's name",
  )
  if (withEp) cmd.option('--ep <provider>', 'execution provider: cpu, webgpu, cuda, dml, coreml')
  return cmd.addOption(new Option('--batch <n>', 'images per inference call').argParser(integer(1, 4096)))
}

// --- files -------------------------------------------------------------------------------------

export function ensureDir(dir: string): string {
  const abs = resolve(dir)
  if (statSync(abs, { throwIfNoEntry: false })?.isDirectory() === false) throw new UsageError(`${abs}: is a file, not a folder`)
  mkdirSync(abs, { recursive: true })
  return abs
}

/** Opens the project, runs `fn`, and closes it. `mustExist`: a missing file is an error, not a new project. */
export async function withProject<T>(file: string, fn: (db: Db, path: string) => Promise<T> | T, mustExist = true): Promise<T> {
  const path = resolve(file)
  if (mustExist && !existsSync(path)) throw new Error(`${path}: no such project file (create one with qc import)`)
  const db = openDb(path)
  try {
    return await fn(db, path)
  } finally {
    db.close()
  }
}
