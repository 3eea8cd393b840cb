/**
 * Service section: the audit of the final labels (plan, draw, blind items, answers, report), over
 * the use case electron/engine/usecases/audit.ts.
 */
import type { OutputOf } from '../../../shared/contract.ts'
import * as uc from '../../engine/usecases/audit.ts'
import type { Handlers, ServiceContext } from '../context.ts'

function report(r: uc.AuditReport | null): OutputOf<'auditReport'> {
  if (!r) return { report: null }
  return {
    report: {
      audit: r.audit,
      classes: r.classes,
      outside: r.frame.rest ? { size: r.frame.rest.size, reviewed: r.frame.rest.reviewed } : null,
      overall: r.overall,
      perClass: r.perClass,
      disagreements: r.disagreements,
      reviewsSince: r.reviewsSince,
    },
  }
}

export function auditSection(ctx: ServiceContext) {
  const { need } = ctx
  return {
    // --- audit ---
    async auditPlan(input) {
      const { db } = need()
      return uc.planAudit(db, input)
    },
    async startAudit(input) {
      const { db } = need()
      return uc.startAudit(db, input)
    },
    async listAudits() {
      const { db } = need()
      return { audits: uc.audits(db) }
    },
    async auditItems(input) {
      const { db } = need()
      return { audit: uc.auditInfo(db, input.auditId), items: uc.auditItems(db, input.auditId) }
    },
    async answerAudit(input) {
      const { db } = need()
      const audit = uc.answerAudit(db, input.auditId, [{ sampleId: input.sampleId, classIdx: input.classIdx, auditor: input.auditor }])
      const item = uc.auditItems(db, input.auditId).find((i) => i.sampleId === input.sampleId)!
      return { audit, item }
    },
    async auditReport(input) {
      const { db } = need()
      if (input.auditId !== undefined) return report(uc.auditReport(db, input.auditId))
      return report(input.completedOnly ? uc.latestCompletedAudit(db) : uc.latestAuditReport(db))
    },
  } satisfies Partial<Handlers>
}
