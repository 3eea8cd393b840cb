/**
 * `qc`: the command line over the engine's use cases. commander parses the arguments and
 * generates the help (`qc --help`, `qc <command> --help`); this file wires the commands to a
 * progress reporter and Ctrl-C, prints results, and maps failures to exit codes:
 * 0 ok; 1 a failed operation, one line `qc: <reason>` on stderr; 2 bad usage, one line
 * `qc <command>: <reason>`; 130 cancelled by Ctrl-C (finished work is kept).
 */
import { Command, CommanderError, type OptionValues } from 'commander'
import { CancelledError } from '../engine/jobs/progress.ts'
import { commands } from './commands.ts'
import { appVersion, checkRequired, requiredOptions, UsageError, type CommandContext, type CommandSpec } from './options.ts'
import { cliReporter, type Reporter } from './progress-bar.ts'

const DESCRIPTION = 'qc — clean noisy labels in inspection datasets (linear probe + PLL self-distillation)'

/** `--required <arg> [options]`: a command's required options belong in its usage line. */
function usage(cmd: Command): string {
  const required = requiredOptions(cmd).map((o) => `${o.long} ${/[<[].*$/.exec(o.flags)?.[0] ?? ''}`.trim())
  return [...required, '[options]'].join(' ')
}

function buildProgram(onRun: (spec: CommandSpec, opts: OptionValues) => Promise<void>): Command {
  const program = new Command('qc')
    .description(DESCRIPTION)
    .usage('<command> [options]')
    .version(appVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    // Errors are printed by main() as one line; commander prints only help and the version.
    .configureOutput({ outputError: () => {} })
    .hook('preAction', (_program, cmd) => checkRequired(cmd))
    .addHelpText(
      'after',
      `
Every command takes --json (the result as JSON on stdout, progress as JSON lines on stderr),
--quiet (no progress) and --help (its options). A failure prints one line 'qc: <reason>'.

Examples:
  qc demo
  qc run --images DIR [--labels CSV] --out OUT
  qc run --features X.npy --labels labels.csv --out OUT
  qc refine --project OUT/project.qcdb --method teacher --lambda 0.001
  qc serve --port 8080 --data ~/qc-data`,
    )
  for (const spec of commands) {
    const cmd = program.command(spec.name).description(spec.summary)
    spec.options(cmd)
    cmd
      .option('--json', 'machine-readable: the result as JSON on stdout, progress as JSON lines on stderr')
      .option('-q, --quiet', 'no progress output')
      .usage(usage(cmd))
      .action(async (opts: OptionValues) => onRun(spec, opts))
  }
  program.command('version', { hidden: true }).action(() => {
    console.log(appVersion())
  })
  return program
}

/** Entry point; returns the process exit code. */
/** What a cancel leaves, where it is not "run the same command again to resume" (import, extract and validate resume). */
const AFTER_CANCEL: Record<string, string> = {
  demo: 'finished work is kept; run qc demo --out with the folder named above to finish it',
  run: 'finished import and extraction are kept and resume; the refinement starts again from the beginning',
  refine: 'the run is recorded as cancelled and nothing else changed; running the command again starts a new run from the beginning',
  export: 'nothing was written',
}

export async function main(argv: string[]): Promise<number> {
  let running: string | null = null
  let json = false
  let reporter: Reporter = { progress: () => {}, done: () => {} }
  const abort = new AbortController()

  const program = buildProgram(async (spec, opts) => {
    running = spec.name
    json = opts.json === true
    reporter = opts.quiet ? reporter : cliReporter({ json })
    const ctx: CommandContext = {
      json,
      progress: reporter.progress,
      signal: abort.signal,
      log: (line) => {
        reporter.done()
        if (!json) console.log(line)
      },
    }
    const result = await spec.run(opts, ctx)
    reporter.done()
    if (json && result !== undefined) console.log(JSON.stringify(result, null, 2))
  })

  if (argv.length === 0) {
    console.log(program.helpInformation())
    return 2
  }
  const onSigint = (): void => {
    if (abort.signal.aborted) process.exit(130)
    process.stderr.write('\nqc: cancelling after the current step (Ctrl-C again to quit now)\n')
    abort.abort()
  }
  process.on('SIGINT', onSigint)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return 0
  } catch (e) {
    reporter.done()
    const err = e as Error
    if (err instanceof CommanderError) {
      // Help and --version end parsing with exit code 0.
      if (err.exitCode === 0) return 0
      const known = commands.some((c) => c.name === argv[0])
      const reason = err.message.replace(/^error: /, '').split('\n')[0]!
      if (err.code === 'commander.unknownCommand') console.error(`qc: ${reason} (try qc --help)`)
      else console.error(`${known ? `qc ${argv[0]}` : 'qc'}: ${reason}`)
      return 2
    }
    if (err instanceof CancelledError || err.name === 'CancelledError') {
      console.error(`qc: ${err.message}; ${AFTER_CANCEL[running ?? ''] ?? 'finished work is kept, run the same command again to resume'}`)
      return 130
    }
    if (err instanceof UsageError) {
      console.error(`qc ${running ?? argv[0]}: ${err.message}`)
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
