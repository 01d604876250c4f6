/**
 * The gateway simulator's settings, parsed once. Run on its own (`service/gateway/main`), the
 * simulator reads them from its environment with {@link gatewaySettingsFromEnv}; forked by
 * the service, it receives them over the IPC channel as data (see spawn.ts), already parsed
 * from the service's config, and reads no variable at all.
 */
import { NO_FAULTS, parseFaults, type GatewayFaults } from './faults.js';
import { parseLatencySpec, type LatencySpec } from './latency.js';

/** Everything a simulator process needs to start. */
export interface GatewaySettings {
  host: string;
  /** 0: any free port. */
  port: number;
  latency: LatencySpec;
  /** Share of charge requests answered 503 without charging, in [0, 1]. */
  failureRate: number;
  /** Share of new charges declined, in [0, 1]. */
  declineRate: number;
  /** Seed of the random draws; unset: `Math.random`. */
  seed?: number;
  /** NDJSON ledger file; unset: the ledger is in memory. */
  ledgerFile?: string;
  /** Faults in force from the start. */
  faults: GatewayFaults;
}

/** The first message a forked simulator waits for. */
export interface GatewaySettingsMessage {
  type: 'gateway-settings';
  settings: GatewaySettings;
}

/** A setting that is missing its form; `variable` names it as the environment spells it. */
export class GatewaySettingError extends Error {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'GatewaySettingError';
    this.variable = variable;
  }
}

export const DEFAULT_GATEWAY_LATENCY = 'lognormal:20:150';

function unit(variable: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1))
    throw new GatewaySettingError(
      variable,
      `expected a number in [0, 1], got ${JSON.stringify(value)}`,
    );
  return value;
}

function port(variable: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 65535)
    throw new GatewaySettingError(variable, `expected a port, got ${JSON.stringify(value)}`);
  return value as number;
}

function seed(variable: string, value: unknown): number {
  if (!Number.isSafeInteger(value))
    throw new GatewaySettingError(variable, `expected an integer, got ${JSON.stringify(value)}`);
  return value as number;
}

function faults(variable: string, value: unknown): GatewayFaults {
  try {
    return parseFaults(value);
  } catch (error) {
    throw new GatewaySettingError(variable, (error as Error).message);
  }
}

function latency(variable: string, spec: string): LatencySpec {
  try {
    return parseLatencySpec(spec);
  } catch (error) {
    throw new GatewaySettingError(variable, (error as Error).message);
  }
}

function numberOf(raw: string): number | string {
  const value = Number(raw);
  return raw.trim() === '' || Number.isNaN(value) ? raw : value;
}

/**
 * The settings of a simulator run on its own, from GATEWAY_HOST, GATEWAY_PORT,
 * GATEWAY_LATENCY, GATEWAY_FAILURE_RATE, GATEWAY_DECLINE_RATE, GATEWAY_SEED,
 * GATEWAY_LEDGER_FILE and GATEWAY_FAULTS (unset or empty: the default).
 * @throws GatewaySettingError naming the first bad variable.
 */
export function gatewaySettingsFromEnv(env: NodeJS.ProcessEnv): GatewaySettings {
  const get = (name: string): string | undefined => {
    const raw = env[name];
    return raw === undefined || raw === '' ? undefined : raw;
  };
  const settings: GatewaySettings = {
    host: get('GATEWAY_HOST') ?? '127.0.0.1',
    port: port('GATEWAY_PORT', numberOf(get('GATEWAY_PORT') ?? '3001')),
    latency: latency('GATEWAY_LATENCY', get('GATEWAY_LATENCY') ?? DEFAULT_GATEWAY_LATENCY),
    failureRate: unit('GATEWAY_FAILURE_RATE', numberOf(get('GATEWAY_FAILURE_RATE') ?? '0.01')),
    declineRate: unit('GATEWAY_DECLINE_RATE', numberOf(get('GATEWAY_DECLINE_RATE') ?? '0.05')),
    faults: { ...NO_FAULTS },
  };
  const rawSeed = get('GATEWAY_SEED');
  if (rawSeed !== undefined) settings.seed = seed('GATEWAY_SEED', numberOf(rawSeed));
  const ledgerFile = get('GATEWAY_LEDGER_FILE');
  if (ledgerFile !== undefined) settings.ledgerFile = ledgerFile;
  const rawFaults = get('GATEWAY_FAULTS');
  if (rawFaults !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawFaults);
    } catch {
      throw new GatewaySettingError('GATEWAY_FAULTS', `not JSON: "${rawFaults}"`);
    }
    settings.faults = faults('GATEWAY_FAULTS', parsed);
  }
  return settings;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function latencyOf(value: unknown): LatencySpec {
  if (!isRecord(value)) throw new GatewaySettingError('latency', 'expected a latency spec');
  const finite = (key: string): number => {
    const n = value[key];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
      throw new GatewaySettingError(`latency.${key}`, `expected ms >= 0, got ${String(n)}`);
    return n;
  };
  switch (value.kind) {
    case 'none':
      return { kind: 'none' };
    case 'fixed':
      return { kind: 'fixed', ms: finite('ms') };
    case 'uniform': {
      const spec = { kind: 'uniform' as const, minMs: finite('minMs'), maxMs: finite('maxMs') };
      if (spec.minMs > spec.maxMs) throw new GatewaySettingError('latency', 'minMs > maxMs');
      return spec;
    }
    case 'lognormal': {
      const spec = {
        kind: 'lognormal' as const,
        medianMs: finite('medianMs'),
        p99Ms: finite('p99Ms'),
      };
      if (spec.medianMs <= 0 || spec.p99Ms < spec.medianMs)
        throw new GatewaySettingError('latency', 'expected 0 < medianMs <= p99Ms');
      return spec;
    }
    default:
      throw new GatewaySettingError('latency.kind', `unknown kind ${JSON.stringify(value.kind)}`);
  }
}

/**
 * Checks settings received as data (the IPC message of a forked simulator) field by field.
 * @throws GatewaySettingError naming the first bad field.
 */
export function checkGatewaySettings(value: unknown): GatewaySettings {
  if (!isRecord(value)) throw new GatewaySettingError('settings', 'expected an object');
  if (typeof value.host !== 'string' || value.host === '')
    throw new GatewaySettingError('host', 'expected a host name or address');
  const settings: GatewaySettings = {
    host: value.host,
    port: port('port', value.port),
    latency: latencyOf(value.latency),
    failureRate: unit('failureRate', value.failureRate),
    declineRate: unit('declineRate', value.declineRate),
    faults: faults('faults', value.faults ?? {}),
  };
  if (value.seed !== undefined) settings.seed = seed('seed', value.seed);
  if (value.ledgerFile !== undefined) {
    if (typeof value.ledgerFile !== 'string' || value.ledgerFile === '')
      throw new GatewaySettingError('ledgerFile', 'expected a file path');
    settings.ledgerFile = value.ledgerFile;
  }
  return settings;
}

/** True for the first message a forked simulator waits for. */
export function isGatewaySettingsMessage(message: unknown): message is GatewaySettingsMessage {
  return isRecord(message) && message.type === 'gateway-settings';
}
