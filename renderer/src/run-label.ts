/**
 * A refinement run as a person would name it in a picker: when it finished, what ran (and, for
 * Auto, what it chose), and how many samples it flagged. Never "#3 teacher".
 */
import type { RunSummary } from '../../shared/contract.ts'

const METHOD_WORDS: Record<string, string> = {
  teacher: 'teacher model',
  sd: 'self-distillation',
  pll: 'PLL student',
  cl: 'confident learning',
  auto: 'Auto',
}

/** "teacher model", or "Auto: teacher model" for a run that chose. */
export function methodWords(r: Pick<RunSummary, 'method' | 'params'>): string {
  const ran = METHOD_WORDS[r.method] ?? r.method
  return r.params.method === 'auto' && r.method !== 'auto' ? `Auto: ${ran}` : ran
}

/** When a run finished (or started), short and local: "12 May, 14:05". */
export function runTime(r: Pick<RunSummary, 'startedAt' | 'finishedAt'>): string {
  const d = new Date(r.finishedAt ?? r.startedAt)
  if (Number.isNaN(d.getTime())) return ''
  return d.toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' })
}

/** The picker's text for a run: "12 May, 14:05 · Auto: teacher model · 80 flagged (run 3)". */
export function runLabel(r: RunSummary): string {
  return `${runTime(r)} · ${methodWords(r)} · ${r.flagged} flagged (run ${r.id})`
}
