/** The experiments' tables in Markdown: what the runner prints and docs/experiments.md shows. */
import type { ExperimentOutcome } from './outcome.js';

const fixed = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

const METRIC_LABEL: Record<string, string> = {
  cpuPerRequestMs: 'CPU/request',
  p50Ms: 'p50',
  p99Ms: 'p99',
  admittedP99Ms: 'p99 admitted',
  queriesPerRequest: 'queries/request',
  bytesPerResponse: 'bytes/response',
  goodput: 'goodput',
  eventLoopP99Ms: 'event-loop p99',
};

export function metricLabel(metric: string): string {
  return METRIC_LABEL[metric] ?? metric;
}

export function experimentMarkdown(o: ExperimentOutcome): string {
  const lines: string[] = [];
  lines.push(`### ${o.name}: ${o.technique}`, '');
  lines.push(o.description, '');
  lines.push(
    `Data set: ${o.dataset.users.toLocaleString('en')} users, ${o.dataset.payments.toLocaleString('en')} payments. ` +
      `Common rate ${o.commonRate} req/s (${o.rateBasis}), open model, up to ${o.connections} connections, ` +
      `${o.variants[0]?.rounds.length ?? 0} interleaved rounds of ${o.roundMs / 1000} s; medians.` +
      (o.env === undefined
        ? ''
        : ` Every variant with ${Object.entries(o.env)
            .map(([k, v]) => `\`${k}=${v}\``)
            .join(', ')}.`),
    '',
  );
  lines.push(
    `| variant | knee (${o.kneeTarget ?? 'p99<100ms'}) | p50 | p99 | CPU/request | queries/request | bytes/response | goodput | refused | event-loop p99 | RSS | ratio |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const v of o.variants) {
    const m = v.medians;
    const ratio = o.ratios.find((r) => r.variant === v.name);
    const knee =
      v.knee === null ? 'not searched' : v.knee.rate === null ? 'none' : `${v.knee.rate} req/s`;
    const ratioText =
      ratio === undefined
        ? 'naive'
        : `**${fixed(ratio.interval.ratio, 2)}x** ${metricLabel(ratio.metric)}` +
          (Number.isFinite(ratio.interval.low)
            ? ` (${fixed(ratio.interval.low, 2)}-${fixed(ratio.interval.high, 2)})`
            : '') +
          (ratio.kneeRatio === null ? '' : `; knee ${fixed(ratio.kneeRatio, 2)}x`);
    lines.push(
      `| ${v.name} | ${knee} | ${fixed(m.p50Ms, 2)} ms | ${fixed(m.p99Ms, 1)} ms | ${fixed(m.cpuPerRequestMs, 3)} ms | ${fixed(m.queriesPerRequest, 2)} | ${fixed(m.bytesPerResponse, 0)} | ${fixed(m.goodput, 0)}/s | ${fixed(m.refusedShare * 100, 1)}% | ${fixed(m.eventLoopP99Ms, 1)} ms | ${fixed(m.rssMb, 0)} MB | ${ratioText} |`,
    );
  }
  if (o.overload !== undefined) lines.push('', ...overloadMarkdown(o));
  lines.push('');
  lines.push(o.reports);
  if (o.warnings.length > 0) {
    lines.push('', 'Warnings:', ...o.warnings.slice(0, 8).map((w) => `- ${w}`));
    if (o.warnings.length > 8) lines.push(`- and ${o.warnings.length - 8} more`);
  }
  lines.push('');
  return lines.join('\n');
}

/** The overload table: goodput against the knee's, refusals, p99 of admitted requests. */
function overloadMarkdown(o: ExperimentOutcome): string[] {
  const ov = o.overload!;
  const pct = (x: number) => `${fixed(x * 100, 1)}%`;
  const times = (x: number) => (Number.isFinite(x) ? `**${x.toFixed(2)}x**` : 'n/a');
  const naive = o.variants[0]?.name ?? 'naive';
  const lines = [
    (ov.kneeRate === null
      ? `At ${o.commonRate} req/s; ${naive} has no knee, so goodput is not judged; unloaded: ${ov.unloadedRate} req/s, same rounds. `
      : `At ${o.commonRate} req/s against the knee of ${naive} (${ov.kneeRate} req/s, goodput ${fixed(ov.kneeGoodput, 0)}/s in its knee step); unloaded: ${ov.unloadedRate} req/s, same rounds. `) +
      `Goals: goodput ≥ ${ov.goals.goodputOfKnee}x the knee's, p99 of admitted (2xx) ≤ ${ov.goals.p99OfUnloaded}x the variant's unloaded p99 of admitted.`,
    '',
    '| variant | goodput (x knee) | 429 | 503 | p99 admitted | unloaded p99 admitted | p99 admitted / unloaded | p50 rise in a round | goals |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const v of ov.verdicts) {
    const goodputGoal =
      ov.kneeRate === null ? 'goodput not judged' : v.isGoodputMet ? '' : 'goodput not met';
    const goals =
      goodputGoal === '' && v.isP99Met
        ? 'met'
        : [goodputGoal, v.isP99Met ? '' : 'p99 not met'].filter((x) => x !== '').join(', ');
    lines.push(
      `| ${v.variant} | ${fixed(v.goodput, 0)}/s (${times(v.goodputOfKnee)}) | ${pct(v.limitedShare)} | ${pct(v.shedShare)} | ${fixed(v.admittedP99Ms, 1)} ms | ${fixed(v.unloadedP99Ms, 1)} ms | ${times(v.p99OfUnloaded)} | ${fixed(v.p50RiseMs, 0)} ms | ${goals} |`,
    );
  }
  return lines;
}
