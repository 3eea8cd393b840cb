/**
 * The training/refinement API that the CLI, the validation sweep, the server and the tests share.
 * Implemented in electron/engine/train/ (see refine.ts). Notation follows Jeong & Chung (ICLR 2025):
 * features X (n x d), given labels y in 0..K-1, a linear classifier W (d x K), softmax outputs.
 */
import type { Progress } from '../jobs/progress.ts'

/** teacher: trained on the given labels; sd: multi-round self-distillation; pll: top-2 partial-label
 * student; cl: confident-learning detector (cleanlab's confident joint, prune by noise rate). */
export type Method = 'teacher' | 'sd' | 'pll' | 'cl'
/** What a caller asks for: a method, or 'auto' (teacher, SD rounds or PLL, chosen by held-out
 * validation on the given labels; selection.ts). */
export type RefineMethod = Method | 'auto'
/** PLL student loss: 'gce' generalised cross-entropy (1 - p^q)/q averaged over the two candidates,
 * q = 0.7, student initialised from the teacher (the authors' code); 'ce' cross-entropy on (1/2, 1/2). */
export type PllLoss = 'gce' | 'ce'
export type Solver = 'lbfgs' | 'sgd'
export type EngineName = 'ort' | 'tfjs'

/** Row-major float32 matrix: n rows (samples) of d features. */
export interface FeatureMatrix {
  data: Float32Array
  n: number
  d: number
}

export interface RefineOptions {
  method: RefineMethod
  /** sd: number of rounds t (1..10). */
  rounds?: number
  /** auto: SD candidates 1..maxRounds (default 2). */
  maxRounds?: number
  /** auto: how the winner is picked among the candidates (selection.ts; default 'noise-se'). */
  methodRule?: 'noise-se' | 'one-se' | 'best'
  pllLoss?: PllLoss | 'auto'
  /** L2 strength; 'auto' picks it by k-fold validation on the given (noisy) labels. */
  lambda?: number | 'auto'
  solver?: Solver
  /** Add a bias column. */
  bias?: boolean
  /** Standardise features by the training mean/std before fitting. */
  standardize?: boolean
  seed?: number
  engine?: EngineName
  /** Execution provider for the ort engine ('cpu' default). */
  executionProvider?: string
  /** Folds for automatic selection (default 3) and for confident learning's cross-fitting (default 5). */
  folds?: number
  /**
   * Out-of-fold refinement (teacher, sd, pll): the method is trained `folds` times on the other
   * folds and each sample's refined label comes from the model that did not see it. For few
   * samples per feature dimension (n <= d), where the in-sample optimum can reproduce the given
   * labels and flag nothing. Lambda is chosen once on all samples first. Costs `folds` trainings.
   */
  crossFit?: boolean
  /** Recorded in `chosen.lambdaSource` when lambda is a number chosen elsewhere (e.g. 'recommendMethod'). */
  lambdaSource?: string
  /** L-BFGS iteration cap of every fit, selection and final (default FIT_MAX_ITER; fits stop earlier at the solver's tolerance). */
  maxIter?: number
  /** SGD recipe: epochs (default 200, the paper's recipe). */
  epochs?: number
  /**
   * SGD only: 'validation' (default) trains on all but one fold and keeps, per fit, the epoch
   * whose weights agree best with that fold's held-out given labels (an honest stopping rule in
   * place of the test-set epoch the paper reports); 'last' trains on everything and keeps the
   * last epoch (the recipe's "final").
   */
  sgdStop?: 'validation' | 'last'
  /** Lambda grid for automatic selection (default 1 .. 1e-5, half-decade steps: DEFAULT_LAMBDAS of selection.ts). */
  lambdas?: number[]
  /** Rows used by automatic selection (a seeded subsample when there are more; default 10000). */
  selectionRows?: number
  /**
   * With more rows than 3/4 of the dimensions and more than 1024 dimensions, search lambda and the
   * method in the leading principal subspace and precondition the full fits with it (subspace.ts).
   * Default true; false fits with the diagonal preconditioner only (slower, the same optimum).
   */
  subspace?: boolean
  /**
   * Names the feature space across calls (a project file and backbone): the principal subspace
   * computed for it is reused by later calls with the same dimension (refine.ts).
   */
  subspaceKey?: string
  /**
   * Rows whose label in y is clean and was drawn at random (answers of an audit of the whole
   * dataset): from 200 of them selection chooses the method by held-out accuracy on them
   * (selection.ts, "Clean rows"). Never mark reviewed flagged samples: they are not random.
   */
  cleanRows?: Uint8Array
  /**
   * Rows whose label in y a person settled (review decisions, issue 8). The teacher trains on y as
   * on every row. The PLL student's candidate set on these rows is the label alone (a one-hot
   * target) instead of the teacher's top 2, which need not hold it. SD students keep the teacher's
   * soft outputs there (the teacher trained on the label): measured on 20k Fashion-MNIST rows
   * (seed 1, 2000 answers least certain first), one-hot targets in an SD student cost 0.4 to 0.5
   * points of right suggestions against the teacher's outputs, while in the PLL-GCE student they
   * gained 0.9 to 1.2 (docs/ARCHITECTURE.md, "Review simulation"). Selection is unchanged (use
   * `cleanRows` for an audit's random answers).
   */
  fixedRows?: Uint8Array
  /** L-BFGS iteration cap of each selection fit (default: the same as the final fit's, so selection scores what it deploys). */
  selectionMaxIter?: number
  /** How a grid lambda carries from a fold's fit to the full fit (see selection.ts). */
  selectionLambdaScaling?: 'n' | 'none'
  /**
   * L-BFGS only: where the fits start, from an earlier result's `weights` on the same feature
   * matrix (same array, so the same work basis) with the same method: the teacher from
   * `teacher` (its objective is strictly convex: only the time changes), SD round 1 and the PLL
   * student from `final` instead of the new teacher. The PLL-GCE objective is not convex, so its
   * optimum may depend on the start. Ignored where the sizes do not match or with SGD. Used by
   * re-fits after a few labels changed (validate/review-sim.ts).
   */
  warmStart?: RefineWeights
  signal?: AbortSignal
  progress?: Progress
}

/** Fitted weights of a refinement, in the basis its fits ran in (see `RefineOptions.warmStart`). */
export interface RefineWeights {
  teacher: Float64Array
  /** The final model's weights (the teacher's for method 'teacher'). */
  final: Float64Array
}

export interface RefineResult {
  /** The method that ran (for 'auto': the one selection chose). */
  method: Method
  n: number
  k: number
  /** Final model's softmax outputs on the training samples, n x K row-major. */
  probs: Float32Array
  /** Refined label per sample (argmax of probs; for cl: the given label unless flagged, then argmax). */
  refined: Int32Array
  /** Probability of the refined label. */
  confidence: Float32Array
  top1: Int32Array
  top1Prob: Float32Array
  top2: Int32Array
  top2Prob: Float32Array
  /** 1 where refined != given. */
  flagged: Uint8Array
  /** Review order among flagged samples (1 = most certain), 0 for unflagged. */
  rank: Int32Array
  /** What was actually used after automatic selection (lambda, pllLoss, rounds, ...). */
  chosen: Record<string, unknown>
  /** Optional diagnostics: validation scores per candidate, noise-rate estimate for cl, ... */
  details: Record<string, unknown>
  timings: Record<string, number>
  /** Class probabilities for other samples (e.g. the trusted/test split), n x K row-major. */
  predict(x: FeatureMatrix): Promise<Float32Array>
  /** Teacher, SD and PLL fitted with L-BFGS on all rows: the weights, for a warm start of a later re-fit. */
  weights?: RefineWeights
}
