/**
 * Runs one experiment: a service process per variant, the knee of each (unless skipped), then
 * rounds at the common rate, interleaved (naive, optimized, ... then the reverse order, so
 * neither always runs first), and the ratios of each variant over the naive one.
 */
import { randomInt } from 'node:crypto';
import type { LoadResult, RequestMix } from 'hotpath/load';
import type { Experiment, RoundFigures, Variant } from '../experiment.js';
import type { SeededDatabase } from './infra.js';
import { findKnee, KNEE_TARGET, measureCapacity, measureRound } from './measure.js';

/** Requests in flight while measuring a capacity: enough to keep the service busy. */
const CAPACITY_CONNECTIONS = 32;
import {
  judgeOverload,
  medianFigures,
  summarizeSteps,
  type ExperimentOutcome,
  type OverloadOutcome,
  type RatioOutcome,
  type VariantOutcome,
} from './outcome.js';
import { freePort, startService, type ServiceProcess } from './service-process.js';
import { bootstrapRatio } from './stats.js';

export interface RunSettings {
  rounds: number;
  roundMs: number;
  warmupMs: number;
  /** Search each variant's knee (else the experiment's fallback rate is the common rate). */
  isKneeSearched: boolean;
  kneeStepMs: number;
  /** Only the first `variantLimit` variants (--smoke: 2). */
  variantLimit: number;
  redisUrl: string;
  log: (line: string) => void;
}

/**
 * Settings every variant starts from: protection off (a shed or refused request would pass for
 * a fast one), unless the experiment is about it and says otherwise in its variants.
 */
export const BASE_ENV: Readonly<Record<string, string>> = {
  SHEDDING: 'off',
  RATE_LIMIT_PER_SECOND: '0',
};

function serviceEnv(
  experiment: Experiment,
  variant: Variant,
  db: SeededDatabase,
  redisUrl: string,
  dataDir?: string,
) {
  const shared = { ...BASE_ENV, ...experiment.env };
  if (variant.isEmbedded === true) {
    return { ...shared, DATA_DIR: dataDir!, ...variant.env };
  }
  return { ...shared, DATABASE_URL: db.url, REDIS_URL: redisUrl, ...variant.env };
}

/** 2xx responses per second of a load result. */
function goodputOf(result: LoadResult): number {
  let ok = 0;
  for (const [code, n] of Object.entries(result.statuses)) if (code.startsWith('2')) ok += n;
  return result.durationMs > 0 ? (ok * 1000) / result.durationMs : NaN;
}

export async function runExperiment(
  experiment: Experiment,
  db: SeededDatabase,
  settings: RunSettings,
): Promise<ExperimentOutcome> {
  const log = settings.log;
  const variants = experiment.variants.slice(0, settings.variantLimit);
  const connections = experiment.connections ?? 100;
  const kneeTarget = experiment.kneeTarget ?? KNEE_TARGET;
  const warnings: string[] = [];
  const services: ServiceProcess[] = [];
  // Every load gets its own seed: a repeated {{uuid}} would replay (or, with another body,
  // be refused 422) a payment that the variants' shared database already holds.
  let seed = randomInt(1, 2 ** 30);
  const nextSeed = () => seed++;
  try {
    for (const variant of variants) {
      const dataDir = variant.isEmbedded === true ? await db.embeddedDir() : undefined;
      const gatewayPort = await freePort();
      const service = await startService({
        ...serviceEnv(experiment, variant, db, settings.redisUrl, dataDir),
        GATEWAY_PORT: String(gatewayPort),
      });
      services.push(service);
      if (experiment.gatewayFaults !== undefined) {
        const res = await fetch(`http://127.0.0.1:${gatewayPort}/_faults`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(experiment.gatewayFaults),
        });
        if (res.status !== 200)
          throw new Error(`gateway faults refused: ${res.status} ${await res.text()}`);
      }
    }
    const mixes: RequestMix[] = [];
    for (const variant of variants) {
      mixes.push(await experiment.mix({ query: db.query, dataset: db.dataset, variant }));
    }

    const knees: (VariantOutcome['knee'] | null)[] = [];
    // The naive variant's knee step: its goodput is what an overload experiment's goal reads.
    let kneeGoodput = NaN;
    for (const [i, variant] of variants.entries()) {
      // An overload experiment needs the naive knee only (its other variants refuse by design,
      // which a search on p99 of all answers would misread).
      if (!settings.isKneeSearched || (experiment.overload !== undefined && i > 0)) {
        knees.push(null);
        continue;
      }
      const found =
        kneeTarget === 'capacity'
          ? await measureCapacity(services[i]!, {
              mix: mixes[i]!,
              connections: CAPACITY_CONNECTIONS,
              runMs: 2 * settings.kneeStepMs,
              runs: 3,
              nextSeed,
            })
          : await findKnee(services[i]!, {
              mix: mixes[i]!,
              connections,
              stepMs: settings.kneeStepMs,
              startRate: experiment.kneeStartRate ?? 20,
              target: kneeTarget,
              maxSteps: 14,
              nextSeed,
            });
      const steps = summarizeSteps(found.steps);
      const knee = {
        rate: found.rate,
        lateSteps: steps.filter((s) => s.isGeneratorLate).length,
        steps,
      };
      knees.push(knee);
      if (i === 0 && found.rate !== null) {
        const step = found.steps.findLast((st) => st.isPassed && st.rate === found.rate)!;
        kneeGoodput = goodputOf(step.result);
      }
      log(
        `  knee ${variant.name}: ${knee.rate ?? 'none'} req/s (${kneeTarget}; steps ${steps.map((s) => `${s.rate}${s.isPassed ? '+' : '-'}`).join(' ')}; ${knee.lateSteps} with late sends)`,
      );
    }

    const kneeRates = knees.map((k) => k?.rate ?? null);
    let commonRate = experiment.fallbackRate;
    let rateBasis = `fixed ${experiment.fallbackRate} req/s (no knee searched)`;
    const rate = experiment.rate;
    if (typeof rate === 'number') {
      commonRate = rate;
      rateBasis = `fixed ${rate} req/s`;
    } else if (settings.isKneeSearched && 'overload' in rate && kneeRates[0] != null) {
      // Only the naive knee sets an overload: a protected variant's may be none (it refuses).
      commonRate = Math.round(kneeRates[0] * rate.overload);
      rateBasis = `${rate.overload}x the knee of ${variants[0]!.name}`;
    } else if (settings.isKneeSearched && kneeRates.some((k) => k === null)) {
      rateBasis = `fixed ${experiment.fallbackRate} req/s (a variant held ${kneeTarget} at no rate tried)`;
    } else if (settings.isKneeSearched && 'share' in rate) {
      const found = kneeRates.filter((k): k is number => k !== null);
      if (found.length > 0) {
        commonRate = Math.max(10, Math.round(Math.min(...found) * rate.share));
        rateBasis = `${rate.share * 100}% of the lowest knee`;
      }
    }
    log(`  common rate ${commonRate} req/s (${rateBasis})`);

    const outcomes: VariantOutcome[] = variants.map((variant, i) => ({
      name: variant.name,
      env: variant.env,
      isEmbedded: variant.isEmbedded === true,
      knee: knees[i] ?? null,
      rounds: [],
      medians: {} as VariantOutcome['medians'],
      results: [],
    }));
    const late = variants.map(() => 0);
    const waited = variants.map(() => 0);
    for (let round = 0; round < settings.rounds; round++) {
      const order = variants.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const i of order) {
        const { figures, result } = await measureRound(services[i]!, {
          mix: mixes[i]!,
          rate: commonRate,
          connections,
          warmupMs: settings.warmupMs,
          durationMs: settings.roundMs,
          seeds: [nextSeed(), nextSeed()],
          refusals: experiment.refusals ?? [],
        });
        outcomes[i]!.rounds.push(figures);
        outcomes[i]!.results.push(result);
        log(
          `  round ${round + 1}/${settings.rounds} ${variants[i]!.name}: ${figures.requests} requests, p99 ${figures.p99Ms.toFixed(1)} ms, CPU ${figures.cpuPerRequestMs.toFixed(3)} ms/request, ${figures.queriesPerRequest.toFixed(2)} queries/request`,
        );
        if (figures.errorShare > 0.01) {
          warnings.push(
            `${variants[i]!.name}, round ${round + 1}: ${(figures.errorShare * 100).toFixed(1)}% errors (${JSON.stringify(result.statuses)}, failures ${JSON.stringify(result.errors)})`,
          );
        }
        if (result.generator.isBottleneck) late[i]!++;
        if (result.generator.waitedForConnection > 0) waited[i]!++;
      }
    }
    for (const outcome of outcomes) outcome.medians = medianFigures(outcome.rounds);

    // Overload experiments: every variant unloaded too (same rounds, interleaved), then judged.
    let overload: OverloadOutcome | undefined;
    const goals = experiment.overload;
    if (goals !== undefined) {
      const naiveKnee = kneeRates[0];
      const unloadedRate = Math.max(
        10,
        Math.round((naiveKnee ?? experiment.fallbackRate / 2) * goals.unloadedShare),
      );
      log(
        `  unloaded rate ${unloadedRate} req/s (${goals.unloadedShare * 100}% of the knee of ${variants[0]!.name})`,
      );
      const unloaded: RoundFigures[][] = variants.map(() => []);
      for (let round = 0; round < settings.rounds; round++) {
        const order = variants.map((_, i) => i);
        if (round % 2 === 1) order.reverse();
        for (const i of order) {
          const { figures } = await measureRound(services[i]!, {
            mix: mixes[i]!,
            rate: unloadedRate,
            connections,
            warmupMs: settings.warmupMs,
            durationMs: settings.roundMs,
            seeds: [nextSeed(), nextSeed()],
            refusals: experiment.refusals ?? [],
          });
          unloaded[i]!.push(figures);
          log(
            `  unloaded round ${round + 1}/${settings.rounds} ${variants[i]!.name}: p99 of 2xx ${figures.admittedP99Ms.toFixed(1)} ms, goodput ${figures.goodput.toFixed(0)}/s`,
          );
        }
      }
      outcomes.forEach((o, i) => {
        o.unloaded = { rounds: unloaded[i]!, medians: medianFigures(unloaded[i]!) };
      });
      overload = judgeOverload(
        outcomes,
        { rate: naiveKnee ?? null, goodput: kneeGoodput },
        unloadedRate,
        { goodputOfKnee: goals.goodputOfKnee, p99OfUnloaded: goals.p99OfUnloaded },
      );
      outcomes.forEach((o, i) => {
        const m = o.medians;
        if (i > 0 && m.limitedShare === 0 && (experiment.refusals ?? []).includes(429))
          warnings.push(`${o.name}: no request was rate limited (429) at ${commonRate} req/s`);
        if (i > 0 && m.shedShare === 0 && (experiment.refusals ?? []).includes(503))
          warnings.push(`${o.name}: no request was shed (503) at ${commonRate} req/s`);
      });
    }
    variants.forEach((variant, i) => {
      if (late[i]! > 0)
        warnings.push(
          `${variant.name}: in ${late[i]} of ${settings.rounds} rounds the generator sent over 1% of requests more than 5 ms late (other processes held the CPU); latency counts from the intended send, so the lag is in p50/p99`,
        );
      if (waited[i]! > 0)
        warnings.push(
          `${variant.name}: in ${waited[i]} of ${settings.rounds} rounds requests waited for one of the ${connections} connections (the service held that many in flight); the wait is in their latency`,
        );
    });

    const naive = outcomes[0]!;
    const gated = experiment.gated ?? variants.slice(1).map((v) => v.name);
    const ratios: RatioOutcome[] = outcomes.slice(1).map((o) => ({
      variant: o.name,
      metric: experiment.primary,
      direction: experiment.direction,
      interval: bootstrapRatio(
        naive.rounds.map((r) => r[experiment.primary]),
        o.rounds.map((r) => r[experiment.primary]),
        experiment.direction,
      ),
      kneeRatio:
        naive.knee?.rate != null && o.knee?.rate != null ? o.knee.rate / naive.knee.rate : null,
      isGated: gated.includes(o.name),
    }));
    return {
      name: experiment.name,
      technique: experiment.technique,
      description: experiment.description,
      reports: experiment.reports,
      dataset: { ...db.dataset },
      commonRate,
      rateBasis,
      connections,
      kneeTarget,
      roundMs: settings.roundMs,
      variants: outcomes,
      ratios,
      warnings: [...new Set(warnings)],
      ...(experiment.env === undefined ? {} : { env: experiment.env }),
      ...(overload === undefined ? {} : { overload }),
    };
  } finally {
    for (const service of services) await service.stop();
  }
}
