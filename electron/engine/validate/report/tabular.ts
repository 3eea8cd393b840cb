/** Tabular validation reports: JSON (everything) and CSV (one row per noise type x rate x seed x method). */
import { formatCsv, type CsvValue } from '../../util/csv.ts'
import type { MetricName, ValidationResult } from '../validate.ts'
import { checkResult } from './format.ts'

/** The whole result as pretty-printed JSON. */
export function toJson(result: ValidationResult): string {
  checkResult(result)
  return JSON.stringify(result, null, 2) + '\n'
}

const CSV_METRICS: [MetricName, string][] = [
  ['trustedAccuracy', 'trusted_accuracy'],
  ['recovery', 'label_recovery'],
  ['givenAccuracy', 'given_label_accuracy'],
  ['noiseRate', 'injected_noise_rate'],
  ['flaggedFraction', 'flagged_fraction'],
  ['flaggedPrecision', 'flagged_precision'],
  ['flaggedRecall', 'flagged_recall'],
  ['estimatedNoiseRate', 'estimated_noise_rate'],
  ['seconds', 'seconds'],
]

/**
 * One row per noise type x rate x seed x method with every metric (fractions in [0, 1], empty
 * where a metric does not apply), identifiability, the chosen hyper-parameters (JSON) and any error.
 */
/** validation.csv's header row (`qc validate` replaces an earlier validation.csv only when it starts with it). */
export const CSV_HEADER: readonly string[] = [
  'noise_type',
  'rate',
  'seed',
  'method',
  'identifiable',
  ...CSV_METRICS.map(([, h]) => h),
  'chosen',
  'error',
]

export function toCsv(result: ValidationResult): string {
  checkResult(result)
  const rows: CsvValue[][] = [[...CSV_HEADER]]
  for (const c of result.cells) {
    rows.push([
      c.noiseType,
      c.rate,
      c.seed,
      c.method,
      c.identifiable === null ? '' : c.identifiable,
      ...CSV_METRICS.map(([m]) => c.metrics[m]),
      Object.keys(c.chosen).length ? JSON.stringify(c.chosen) : '',
      c.error ?? '',
    ])
  }
  return formatCsv(rows)
}
