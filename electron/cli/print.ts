/**
 * Human-readable lines for the use cases' results (what `qc` prints without --json). Each takes a
 * `log` sink and prints; none computes anything the result does not hold.
 */
import { dirname } from 'node:path'
import type { DemoSummary } from '../engine/usecases/demo.ts'
import type { ExtractOutcome } from '../engine/usecases/extract.ts'
import type { ImportOutcome } from '../engine/usecases/import.ts'
import type { ProjectOverview, BackboneChoices } from '../engine/usecases/info.ts'
import type { RefineOutcome } from '../engine/usecases/refine.ts'
import type { AuditPlan, AuditReport, AuditStratum } from '../engine/usecases/audit.ts'
import type { DecisionsOutcome } from '../engine/usecases/review.ts'

type Log = (line: string) => void

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`

export function printImport(log: Log, s: ImportOutcome): void {
  log(
    `imported: ${s.added} new, ${s.existing} already in the project${s.updated.length ? `, ${s.updated.length} updated` : ''}, ${s.skipped.length} skipped`,
  )
  for (const note of s.notes) log(`  note: ${note}`)
  for (const x of s.updated.slice(0, 10)) log(`  updated ${x.path}: ${x.what}`)
  if (s.updated.length > 10) log(`  ... and ${s.updated.length - 10} more updated (--json lists them)`)
  for (const x of s.skipped.slice(0, 10)) log(`  skipped ${x.path}: ${x.reason}`)
  if (s.skipped.length > 10) log(`  ... and ${s.skipped.length - 10} more (qc info lists them)`)
}

export function printExtract(log: Log, e: ExtractOutcome): void {
  const s = e.summary
  if (e.ownEmbeddings) {
    log(`features (${e.backbone}): your own embeddings, nothing to extract`)
    return
  }
  log(`features (${e.backbone}): ${s.computed} computed, ${s.reused} already stored, ${s.failed.length} failed, ${s.seconds.toFixed(1)} s`)
  for (const f of s.failed.slice(0, 10)) log(`  failed ${f.path}: ${f.reason}`)
}

export function printRefine(log: Log, out: RefineOutcome): void {
  const sel = out.selection
  if (sel) {
    log(`held-out validation on the given labels (${sel.rows} samples, ${sel.folds} folds, ${sel.seconds.toFixed(1)} s):`)
    for (const c of sel.candidates) {
      const mark = c.chosen ? '→' : ' '
      const behind = c.behind > 0 ? `  (${(100 * c.behind).toFixed(1)} ± ${(100 * c.pairedSe).toFixed(1)} points behind)` : ''
      log(`  ${mark} ${c.label.padEnd(22)} λ ${String(c.lambda).padEnd(7)} agreement ${pct(c.score)}${behind}`)
    }
    log(`    ${'always the commonest class'.padEnd(22)}           agreement ${pct(sel.majorityBaseline)}`)
    if (sel.estimatedNoise !== null) log(`    given labels: about ${pct(sel.estimatedNoise)} look wrong (confident learning estimate)`)
    log(`  why: ${sel.reason}`)
  }
  const chosen = Object.entries(out.chosen)
    .filter(([, v]) => v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ')
  log(
    `run ${out.runId} (${out.method}${chosen ? ', ' + chosen : ''}): ${out.flagged} of ${out.n} training samples flagged` +
      (out.flaggedOther > 0
        ? ` (and ${out.flaggedOther} test or excluded samples, predicted out of sample: ${out.flagged + out.flaggedOther} to review)`
        : '') +
      `, ${((out.timings.total ?? 0) / 1000).toFixed(1)} s`,
  )
  if (out.trusted)
    log(`  audit: on the ${out.trusted.samples} samples with a trusted label, ${pct(out.trusted.givenAccuracy)} of the given labels are right`)
  for (const w of out.warnings) log(`  warning: ${w}`)
}

export function printDemo(log: Log, s: DemoSummary, validationDir: string): void {
  log('')
  log(`Demo summary (${s.samples} synthetic images, classes: ${s.classes.join(', ')}; ${s.seconds.toFixed(1)} s)`)
  log(`  on the ${s.decided} images without an audited label (the audited fifth is trained on as it is):`)
  log(`  given labels correct (vs hidden truth): ${pct(s.givenLabelAccuracy)}`)
  if (s.teacherAccuracy !== null) log(`  teacher labels correct:                 ${pct(s.teacherAccuracy)}`)
  if (s.pllAccuracy !== null) log(`  PLL refined labels correct:             ${pct(s.pllAccuracy)}`)
  log(`  chosen by validation (${s.chosenMethod}):`.padEnd(42) + ` ${pct(s.chosenAccuracy)}`)
  if (s.refine.selection) log(`  why: ${s.refine.selection.reason}`)
  for (const w of s.refine.warnings) log(`  note: ${w}`)
  log(`  flagged for review (run ${s.runId}): ${s.flagged}`)
  log(`  project: ${s.project}`)
  if (s.refinedCsv) log(`  refined labels: ${s.refinedCsv}`)
  log(`  review them in the app: npx qc serve --root ${dirname(s.project)}  (then open the project on the Projects screen)`)
  log(`  PoC validation on the audited fifth: qc validate --project ${s.project} --out ${validationDir}`)
}

export function printInfo(log: Log, info: ProjectOverview): void {
  log(info.project)
  log(`  samples: ${info.samples} (train ${info.train}, test ${info.test}, trusted labels ${info.trusted})`)
  log(`  classes: ${info.classes.map((c) => `${c.name} (${c.n})`).join(', ')}`)
  for (const b of info.backbones) log(`  backbone ${b.id} ${b.name} [${b.kind}, ${b.dim}-d]: ${b.features} feature vectors`)
  for (const r of info.runs) log(`  run ${r.id} ${r.method} ${r.status} ${r.finishedAt ?? ''}`)
  log(`  review decisions: ${info.reviewEvents}`)
  if (info.skipped.length) log(`  skipped at import: ${info.skipped.length}`)
  for (const s of info.skipped.slice(0, 20)) log(`    ${s.path}: ${s.reason}`)
}

export function printBackbones(log: Log, b: BackboneChoices): void {
  log(`built-in: ${b.builtin} (training-free filter bank, offline); features: its output, ${b.builtinDim}-d`)
  for (const c of b.catalogue) {
    const tensor = c.featureLayer === 'penultimate' ? 'the penultimate layer (input of the classifier)' : `'${c.featureLayer}'`
    log(`catalogue: ${c.id} — ${c.name}`)
    log(`  features: ${tensor}, ${c.dim}-d; ${c.licence}`)
    log(
      c.sha256
        ? `  sha256 ${c.sha256} (verified against the ${c.checksumSource})${c.bytes !== null ? `, ${c.bytes} bytes` : ''}`
        : `  checksum: NOT VERIFIED — no published sha256 known; the download is checked for size only`,
    )
  }
  for (const r of b.registered) {
    const f = r.featureTensor
      ? `; features: '${r.featureTensor}'${r.featureLayer === 'penultimate' ? ' (penultimate)' : ''}, ${r.dim}-d`
      : `; ${r.dim}-d`
    log(`registered: ${r.id} ${r.name} [${r.kind}]${f}`)
  }
}

const range = (i: { lo: number; hi: number }): string => `${(100 * i.lo).toFixed(1)}–${(100 * i.hi).toFixed(1)}%`
const stratumWords = (s: AuditStratum): string => (s === 'all' ? 'every labelled sample' : 'the samples the run did not flag')

export function printDecisions(log: Log, d: DecisionsOutcome): void {
  const by = Object.entries(d.byAction)
    .filter(([, n]) => n > 0)
    .map(([a, n]) => `${n} ${a}`)
    .join(', ')
  log(
    `applied ${d.applied} review decision${d.applied === 1 ? '' : 's'} from ${d.file}${by ? ` (${by})` : ''}${d.runId !== null ? `; suggestions of run ${d.runId}` : ''}`,
  )
}

export function printAuditPlan(log: Log, p: AuditPlan, drawn?: { id: number; seed: number; paths: string[]; template?: string }): void {
  const what = `${p.size} of ${p.population} samples (${stratumWords(p.stratum)}${p.runId !== null ? `, run ${p.runId}` : ''})`
  log(drawn ? `audit ${drawn.id} drawn: ${what}, seed ${drawn.seed}` : `an audit would label ${what}`)
  log(
    `  for ±${(100 * p.precision).toFixed(1)} points at a planning accuracy of ${pct(p.expected)} (95% interval; ${p.n0} before the finite-population correction)`,
  )
  if (p.stratum === 'unflagged') log(`  the ${p.outside} flagged samples are not drawn: the overall figure counts the reviewed ones as right`)
  if (!drawn) return
  if (drawn.template) log(`  wrote ${drawn.template} (path,label,auditor; fill in label and auditor)`)
  else for (const path of drawn.paths) log(`  ${path}`)
  log('  label them blind (image only), then: qc audit --project P --answers FILE.csv')
}

export function printAuditReport(log: Log, r: AuditReport): void {
  const a = r.audit
  log(
    `audit ${a.id} (${stratumWords(a.stratum)}${a.runId !== null ? `, run ${a.runId}` : ''}; seed ${a.seed}; drawn ${a.createdAt}): ${a.answered} of ${a.size} answered`,
  )
  if (!a.complete) log('  not complete: the figures below are on the answers so far')
  const o = r.overall
  if (o.n === 0) {
    log('  no answers yet')
    return
  }
  const s = o.stratum
  if (r.frame.rest) {
    log(`  unflagged part (${r.frame.size} samples): ${pct(s.estimate!)} right (95% interval ${range(s.wilson)}, Wilson; exact ${range(s.exact)})`)
    const rest = r.frame.rest
    log(
      `  whole dataset, adding the ${rest.size} flagged samples (${rest.reviewed} reviewed, counted right; ${rest.size - rest.reviewed} unreviewed, counted wrong, or right at the upper end): ${pct(o.overall.estimate!)} (${range(o.overall)})`,
    )
  } else
    log(
      `  accuracy of the final labels: ${pct(s.estimate!)} (95% interval ${range(s.wilson)}, Wilson; exact ${range(s.exact)}); ${o.correct} of ${o.n} right`,
    )
  log('  per class (by final label):')
  const width = Math.max(...r.perClass.map((c) => c.name.length))
  for (const c of r.perClass) {
    const est = c.stratum.estimate === null ? '—' : `${pct(c.stratum.estimate)} (${range(c.stratum.wilson)})`
    log(`    ${c.name.padEnd(width)}  ${String(c.correct).padStart(4)} of ${String(c.n).padEnd(4)} ${est}`)
  }
  if (r.disagreements.length)
    log(`  ${r.disagreements.length} audited label${r.disagreements.length === 1 ? '' : 's'} the auditor disagreed with (--json lists them)`)
  if (r.reviewsSince > 0) log(`  note: ${r.reviewsSince} review decisions were made after the draw; this audit measures the labels before them`)
}
