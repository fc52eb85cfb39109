/** Model soups and adversarial learned soups (METHODS §7): ingredients, assembly, checks, methods, BN, results. */
export { Ingredients, SoupError, loadIngredients, ingredientsFromModels } from './ingredients.js';
export { assembleSoup, soupOf, soupModel, soupLayers, uniformOver, disposeSoup } from './assemble.js';
export type { SoupLayers, CoefficientValues } from './assemble.js';
export { evaluateSoup, criterionScore, checkCriterion, describeCriterion } from './metric.js';
export type { SoupAttack, SoupEvaluation, SoupMetrics, SoupCriterion } from './metric.js';
export { checkConnectivity, interpolationCurve, barrierOf, ConnectivityError } from './connectivity.js';
export type { CurvePoint, Barrier, ConnectivityCurve, ConnectivityReport, ConnectivityOptions } from './connectivity.js';
export { fixedSoup, uniformSoup, DEFAULT_CRITERION } from './fixed.js';
export { greedySoup } from './greedy.js';
export type { GreedySoupResult, GreedyStep } from './greedy.js';
export { gridSoup, interpolationSoup, interpolationPoints, simplexPoints, searchPoints } from './grid.js';
export type { GridPoint, GridSoupResult } from './grid.js';
export { learnedSoup, mixingWeights, logitsFor } from './learned.js';
export type { LearnedSoupOptions, LearnedSoupResult, LearnedEvaluation, LearnedParam, LearnedGranularity, LearnedLoss } from './learned.js';
export { recomputeBn, recomputeResultBn } from './bn.js';
export type { BnRecomputeOptions } from './bn.js';
export { saveSoup, measureTest, describeBn, assembledBn, hasBatchNorm, disposeResult } from './result.js';
export type { SoupResult, SoupMethod, BnStatistics } from './result.js';
