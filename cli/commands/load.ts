/**
 * `hotpath load`: argv -> options of hotpath/load, then output (progress, table, JSON, HTML,
 * comparison, thresholds). Every measurement lives in the library; this file only parses and
 * prints.
 *
 * Exit codes: 0 done, 1 a threshold was breached (or the run failed), 2 bad arguments,
 * 130 interrupted (after printing the results so far).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { hasErrorCode, InvalidOptionError } from 'hotpath/errors';
import {
  checkThresholds,
  compareResults,
  findMaxRate,
  formatComparison,
  formatResult,
  load,
  type LoadOptions,
  type LoadProgress,
  type LoadResult,
  mergeResults,
  parseDuration,
  parseThreshold,
  readMixFile,
  ProgressLine,
  renderHtmlReport,
  requestName,
  type Stage,
  type Threshold,
  unknownThresholdNames,
} from 'hotpath/load';

const HELP = `usage: hotpath load <url> [options]
       hotpath load merge <a.json> <b.json> ... [-o|--json FILE] [--html FILE] [--threshold EXPR]

Closed model (default): -c connections each send the next request when the last completes.
Open model (--rate or --stages): requests arrive at a fixed rate; latency counts from each
request's intended send time, so a stalled server cannot hide (coordinated omission).

  -c, --connections N    closed: connections (10); open: most connections opened (100)
  -d, --duration D       measured time, e.g. 30s, 2m (10s; a bare number is seconds)
  -n, --requests N       stop after N requests
      --requests FILE    weighted request mix (JSON, with templating); also --mix FILE
  -r, --rate R           arrival rate in requests/s (open model)
      --stages LIST      ramp, e.g. 10s:100,30s:1000,10s:0 (open model; rate at stage end)
  -p, --pipelining N     closed model: requests in flight per connection (1)
  -m, --method M         HTTP method (GET)
  -H, --header 'K: V'    request header (repeatable)
  -b, --body TEXT        request body;  --body-file FILE reads it from a file
      --warmup D         traffic before measuring, discarded (0)
      --timeout D        per-request timeout (10s)
  -w, --workers N        worker threads sharing the load; histograms merge exactly (1)
      --json FILE        write the result as JSON ('-' for stdout)
      --html FILE        write a self-contained HTML report with plots
      --compare FILE     compare with an earlier --json result (deltas, noise; per request
                         name too: req/s, p50, p99, errors)
      --threshold EXPR   fail (exit 1) unless it holds, e.g. 'p99<250ms', 'errors<1%',
                         'rps>=1000', 'checks_failed<1%' (repeatable; latency from the
                         intended send); '{name=NAME}' after the metric reads one request
                         name of the mix: 'p99{name=create}<250ms', 'errors{name=create}<1%';
                         '{status=2xx}' one status class: 'p99{status=2xx}<100ms'
      --find-max EXPR    search the highest rate meeting EXPR (e.g. 'p99<50ms'); steps of -d
      --insecure         do not verify the server's TLS certificate
      --seed N           seed the mix's random placeholders (reproducible runs)
      --start-at TIME    wait until this wall-clock time, then start (ISO 8601 such as
                         2026-12-03T07:00:00Z, or Unix seconds): several machines start together
  -q, --quiet            no live progress line (it is shown only when stderr is a terminal)

Request mix entries take an optional "name" (default "METHOD path"; the table, JSON, HTML
report and thresholds break down by it) and "check": {"status": [200, 201], "json":
{"$.status": "authorized"}}; failed checks are counted apart from transport errors.

merge: combines the --json results of runs made side by side (several machines or processes)
into one; percentiles are exact (histograms merged, overall and per name). Results whose
histogram layouts or latency time bases differ are refused (HP_ERR_LOAD_MERGE_MISMATCH, exit 2).

Exit: 0 ok, 1 threshold breached, 2 bad arguments, 130 interrupted (results so far printed).`;

/** A bad command line: printed as one line, exit 2. */
class UsageError extends Error {}

/**
 * What is wrong with a value, for a line that names the flag itself: an
 * {@link InvalidOptionError}'s reason (its message without the library's option name), or
 * the message of any other error.
 */
function reasonOf(error: unknown): string {
  return error instanceof InvalidOptionError ? error.reason : (error as Error).message;
}

interface Parsed {
  url: string | null;
  options: Omit<LoadOptions, 'url'>;
  json: string | null;
  html: string | null;
  compare: string | null;
  thresholds: Threshold[];
  findMax: Threshold[];
  isHelp: boolean;
  isQuiet: boolean;
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`${flag} expects a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

function positiveNumber(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} expects a positive number, got ${JSON.stringify(v)}`);
  return n;
}

function duration(flag: string, v: string): number {
  try {
    return parseDuration(flag, v);
  } catch (error) {
    throw new UsageError(`${flag}: ${reasonOf(error)}`);
  }
}

function parseStages(v: string): Stage[] {
  return v.split(',').map((part) => {
    const m = /^\s*([^:]+):\s*([0-9.]+)\s*$/.exec(part);
    if (m === null)
      throw new UsageError(
        `--stages expects DURATION:RATE[,...] such as 10s:100,30s:1000, got ${JSON.stringify(part)}`,
      );
    const rate = Number(m[2]);
    if (!Number.isFinite(rate) || rate < 0)
      throw new UsageError(`--stages: bad rate ${JSON.stringify(m[2])}`);
    return { durationMs: duration('--stages', m[1]!), rate };
  });
}

function threshold(v: string): Threshold {
  try {
    return parseThreshold(v);
  } catch (error) {
    throw new UsageError(`--threshold: ${reasonOf(error)}`);
  }
}

/** `isMerge`: options of `merge`, whose request names come from the files, not a mix. */
function parseArgs(argv: string[], isMerge = false): Parsed {
  const p: Parsed = {
    url: null,
    options: {},
    json: null,
    html: null,
    compare: null,
    thresholds: [],
    findMax: [],
    isHelp: false,
    isQuiet: false,
  };
  const o = p.options;
  const headers: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let inline: string | undefined;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    if (eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '-h':
      case '--help':
        p.isHelp = true;
        break;
      case '-c':
      case '--connections':
        o.connections = positiveInt(arg, value());
        break;
      case '-d':
      case '--duration':
        o.durationMs = duration(arg, value());
        break;
      case '-n':
        o.requests = positiveInt(arg, value());
        break;
      case '--requests': {
        // A count (-n) or a request-mix file: the issue's two spellings share the flag.
        const v = value();
        if (/^\d+$/.test(v)) o.requests = positiveInt(arg, v);
        else o.mix = readMix(v);
        break;
      }
      case '--mix':
        o.mix = readMix(value());
        break;
      case '-r':
      case '--rate':
        o.rate = positiveNumber(arg, value());
        break;
      case '--stages':
        o.stages = parseStages(value());
        break;
      case '-p':
      case '--pipelining':
        o.pipelining = positiveInt(arg, value());
        break;
      case '-m':
      case '--method': {
        const v = value();
        if (!/^[A-Za-z]+$/.test(v))
          throw new UsageError(`${arg}: not an HTTP method: ${JSON.stringify(v)}`);
        o.method = v.toUpperCase();
        break;
      }
      case '-H':
      case '--header': {
        const v = value();
        const colon = v.indexOf(':');
        if (colon < 1)
          throw new UsageError(`${arg} expects 'Name: value', got ${JSON.stringify(v)}`);
        headers[v.slice(0, colon).trim()] = v.slice(colon + 1).trim();
        break;
      }
      case '-b':
      case '--body':
        o.body = value();
        break;
      case '--body-file': {
        const file = value();
        try {
          o.body = readFileSync(file, 'utf8');
        } catch {
          throw new UsageError(`--body-file: cannot read ${file}`);
        }
        break;
      }
      case '--warmup':
        o.warmupMs = duration(arg, value());
        break;
      case '--timeout':
        o.timeoutMs = duration(arg, value());
        break;
      case '-w':
      case '--workers':
        o.workers = positiveInt(arg, value());
        break;
      case '--json':
        p.json = value();
        break;
      case '--html':
        p.html = value();
        break;
      case '--compare':
        p.compare = value();
        break;
      case '--threshold':
        p.thresholds.push(threshold(value()));
        break;
      case '--find-max':
        p.findMax.push(threshold(value()));
        break;
      case '-q':
      case '--quiet':
        p.isQuiet = true;
        break;
      case '--start-at':
        o.startAt = startAt(value());
        break;
      case '--insecure':
        o.rejectUnauthorized = false;
        break;
      case '--seed':
        o.seed = Number(value());
        if (!Number.isSafeInteger(o.seed)) throw new UsageError('--seed expects an integer');
        break;
      default:
        if (arg.startsWith('-') && arg !== '-')
          throw new UsageError(`unknown option ${arg} (see hotpath load --help)`);
        if (p.url !== null)
          throw new UsageError(`unexpected argument ${JSON.stringify(arg)} (one URL only)`);
        p.url = arg;
    }
  }
  if (Object.keys(headers).length > 0) o.headers = headers;
  if (p.isHelp) return p;
  if (p.url === null) throw new UsageError('missing URL (see hotpath load --help)');
  let url: URL;
  try {
    url = new URL(p.url);
  } catch {
    throw new UsageError(`bad URL ${JSON.stringify(p.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`bad URL ${JSON.stringify(p.url)}: use http:// or https://`);
  if (
    o.pipelining !== undefined &&
    o.pipelining > 1 &&
    (o.rate !== undefined || o.stages !== undefined)
  ) {
    throw new UsageError('--pipelining applies to the closed model only (drop --rate/--stages)');
  }
  if (p.findMax.length > 0 && o.stages !== undefined)
    throw new UsageError('--find-max and --stages do not mix');
  const names = (
    o.mix?.requests ?? [{ method: o.method ?? 'GET', path: url.pathname + url.search }]
  ).map((e) => requestName(e));
  const unknown = isMerge ? [] : unknownThresholdNames([...p.thresholds, ...p.findMax], names);
  if (unknown.length > 0)
    throw new UsageError(
      `--threshold: no request named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (names: ${[...new Set(names)].map((n) => JSON.stringify(n)).join(', ')})`,
    );
  return p;
}

/** `--start-at`: an ISO 8601 time (with its zone) or Unix seconds, as epoch milliseconds. */
function startAt(v: string): number {
  const at = /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : Date.parse(v);
  if (!Number.isFinite(at))
    throw new UsageError(
      `--start-at expects an ISO 8601 time such as 2026-12-03T07:00:00Z or Unix seconds, got ${JSON.stringify(v)}`,
    );
  // More than a second late: the machines it should line up with have already started.
  if (at < Date.now() - 1000)
    throw new UsageError(`--start-at ${v} is in the past (${new Date(at).toISOString()})`);
  return at;
}

function readMix(file: string): NonNullable<LoadOptions['mix']> {
  try {
    return readMixFile(file);
  } catch (error) {
    throw new UsageError(`--requests: ${reasonOf(error)}`);
  }
}

function readResult(file: string, flag: string): LoadResult {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LoadResult;
  } catch {
    throw new UsageError(`${flag}: cannot read a JSON result from ${file}`);
  }
}

/**
 * The comparison of each request name (req/s, p50, p99, errors), or '' when the results have
 * no names or a single one (the whole run's table says it all).
 */
function formatNamedComparison(comparison: ReturnType<typeof compareResults>, file: string) {
  const named = Object.entries(comparison.byName ?? {});
  const unmatched = comparison.unmatchedNames ?? { base: [], current: [] };
  if (named.length <= 1 && unmatched.base.length === 0 && unmatched.current.length === 0) return '';
  const parts = named.map(([name, rows]) => `\nby name: ${name}\n${formatComparison(rows)}\n`);
  if (unmatched.base.length > 0) parts.push(`\nonly in ${file}: ${unmatched.base.join(', ')}\n`);
  if (unmatched.current.length > 0)
    parts.push(`\nonly in this run: ${unmatched.current.join(', ')}\n`);
  return parts.join('');
}

/** Writes outputs and evaluates thresholds; returns the exit code. */
function report(
  result: LoadResult,
  p: Pick<Parsed, 'json' | 'html' | 'compare' | 'thresholds'>,
): number {
  const out = p.json === '-' ? process.stderr : process.stdout;
  out.write(`${formatResult(result)}\n`);
  let baseline: LoadResult | undefined;
  if (p.compare !== null) {
    baseline = readResult(p.compare, '--compare');
    const comparison = compareResults(baseline, result);
    out.write(`\ncompared with ${p.compare}:\n${formatComparison(comparison)}\n`);
    out.write(formatNamedComparison(comparison, p.compare));
  }
  if (p.json === '-') process.stdout.write(`${JSON.stringify(result)}\n`);
  else if (p.json !== null) writeFileSync(p.json, JSON.stringify(result));
  if (p.html !== null)
    writeFileSync(p.html, renderHtmlReport(result, baseline === undefined ? {} : { baseline }));
  if (p.thresholds.length === 0) return 0;
  const outcomes = checkThresholds(result, p.thresholds);
  out.write(`\nthresholds:\n${outcomes.map((o) => `  ${o.message}`).join('\n')}\n`);
  return outcomes.every((o) => o.isPassed) ? 0 : 1;
}

async function runMerge(argv: string[]): Promise<number> {
  const files: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '--output') rest.push('--json', argv[++i] ?? '');
    else if (a === '--json' || a === '--html' || a === '--threshold' || a === '--compare')
      rest.push(a, argv[++i] ?? '');
    else if (a.startsWith('-')) throw new UsageError(`merge: unknown option ${a}`);
    else files.push(a);
  }
  if (files.length < 1)
    throw new UsageError('merge needs result files: hotpath load merge a.json b.json');
  const parsed = parseArgs([...rest, 'http://merge.invalid/'], true);
  let merged: LoadResult;
  try {
    merged = mergeResults(files.map((f) => readResult(f, 'merge')));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (hasErrorCode(error, 'HP_ERR_LOAD_MERGE_MISMATCH'))
      throw new UsageError(`merge: ${error.code}: ${error.message}`);
    throw new UsageError(`merge: ${reasonOf(error)}`);
  }
  return report(merged, parsed);
}

/** Entry point of `hotpath load`. */
export async function run(argv: string[]): Promise<number> {
  try {
    if (argv[0] === 'merge') return await runMerge(argv.slice(1));
    const p = parseArgs(argv);
    if (p.isHelp) {
      console.log(HELP);
      return 0;
    }
    const controller = new AbortController();
    let interrupts = 0;
    const onSigint = () => {
      if (++interrupts > 1) process.exit(130);
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    // On a terminal only, and on stderr only: stdout may carry the JSON result.
    const line = new ProgressLine(process.stderr, { isQuiet: p.isQuiet });
    const onProgress = line.isEnabled ? (pr: LoadProgress) => line.update(pr) : undefined;
    const options: LoadOptions = { ...p.options, url: p.url! };
    try {
      let result: LoadResult;
      if (p.findMax.length > 0) {
        const found = await findMaxRate(
          options,
          p.findMax,
          {
            onStep: (s) => {
              line.clear();
              process.stderr.write(
                `find-max: ${s.rate} req/s ${s.isPassed ? 'holds' : `fails (${s.reasons.join('; ')})`}\n`,
              );
            },
          },
          { signal: controller.signal, ...(onProgress ? { onProgress } : {}) },
        );
        line.clear();
        const last = found.steps.at(-1);
        if (found.result === null || last === undefined) {
          process.stderr.write(
            `find-max: no rate met ${p.findMax.map((t) => t.text).join(', ')}\n`,
          );
          return last === undefined ? 130 : 1;
        }
        process.stdout.write(
          `find-max: highest rate meeting ${p.findMax.map((t) => t.text).join(', ')}: ${found.rate} req/s${found.isGeneratorBound ? ' (the generator became the bottleneck above it: use --workers)' : ''}\n\n`,
        );
        result = found.result;
      } else {
        result = await load(options, {
          signal: controller.signal,
          ...(onProgress ? { onProgress } : {}),
        });
        line.clear();
      }
      const code = report(result, p);
      return result.isInterrupted ? 130 : code;
    } finally {
      process.off('SIGINT', onSigint);
    }
  } catch (error) {
    // Bad arguments the library found (its options are checked before any traffic) exit 2 like
    // the command line's own; any other failure is the run's (exit 1).
    if (error instanceof UsageError || hasErrorCode(error, 'HP_ERR_INVALID_OPTION')) {
      process.stderr.write(`hotpath load: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`hotpath load: ${(error as Error).message}\n`);
    return 1;
  }
}
