/** Gateway simulator settings (docs/gateway-simulator.md) experiments share. */

/**
 * A gateway of fixed low latency and no failures for every variant of the experiments on the
 * shipped mix: with the simulator's default tail (lognormal, median 20 ms, p99 150 ms) the
 * mix's 10% payments alone hold p99 near 100 ms at any rate, and the knee would be the
 * gateway's, not the service's.
 */
export const FAST_GATEWAY: Readonly<Record<string, string>> = {
  GATEWAY_LATENCY: 'fixed:5',
  GATEWAY_FAILURE_RATE: '0',
};
