import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatRuleFile, sloPrometheusRules } from './index.js';

describe('sloPrometheusRules', () => {
  test('an error-rate SLO records the error ratio over seven windows and has a page and a ticket alert', () => {
    const file = sloPrometheusRules({ rules: ['error_rate < 0.5%'], selector: 'job="api"' });
    assert.equal(file.groups.length, 1);
    const rules = file.groups[0]!.rules;
    assert.deepEqual(
      rules.filter((r) => r.record !== undefined).map((r) => r.record),
      ['5m', '30m', '1h', '2h', '6h', '1d', '3d'].map((w) => `job:slo_errors:ratio_rate${w}`),
    );
    assert.equal(
      rules[0]!.expr,
      'sum by (job) (rate(http_request_errors_total{job="api"}[5m]))\n/\nsum by (job) (rate(http_requests_total{job="api"}[5m]))',
    );
    const alerts = rules.filter((r) => r.alert !== undefined);
    assert.deepEqual(
      alerts.map((a) => a.labels),
      [
        { severity: 'page', slo: 'errors' },
        { severity: 'ticket', slo: 'errors' },
      ],
    );
    assert.match(alerts[0]!.expr, /ratio_rate1h > \(14\.4 \* 0\.005\)/);
    assert.match(alerts[0]!.expr, /ratio_rate30m > \(6 \* 0\.005\)/);
    assert.match(alerts[1]!.expr, /ratio_rate1d > \(3 \* 0\.005\)/);
    assert.match(alerts[1]!.expr, /ratio_rate3d > \(1 \* 0\.005\)/);
  });

  test('a latency SLO counts the requests above the threshold bucket, with a budget of 100 - p percent', () => {
    const file = sloPrometheusRules({ rules: ['p99.9 < 250ms over 1m'], prefix: 'api_' });
    const rules = file.groups[0]!.rules;
    assert.equal(rules[0]!.record, 'job:slo_latency_over_250ms:ratio_rate5m');
    assert.match(rules[0]!.expr, /api_request_duration_seconds_bucket\{le="0\.25"\}\[5m\]/);
    assert.match(rules.find((r) => r.alert !== undefined)!.expr, /> \(14\.4 \* 0\.001\)/);
  });

  test('refuses rules without an error budget and thresholds that are not bucket bounds', () => {
    for (const rule of [
      'mean < 10ms',
      'max < 1s',
      'rate > 10rps',
      'error_rate > 1%',
      'p99 < 200ms',
    ]) {
      assert.throws(() => sloPrometheusRules({ rules: [rule] }), {
        code: 'HP_ERR_INVALID_OPTION',
        option: 'rules',
      });
    }
    assert.doesNotThrow(() => sloPrometheusRules({ rules: ['p99 < 200ms'], buckets: [0.1, 0.2] }));
  });

  test('formatRuleFile writes expressions as literal blocks and quotes strings', () => {
    const text = formatRuleFile(
      { groups: [{ name: "it's", rules: [{ alert: 'A', expr: 'up\n== 0', labels: { a: 'b' } }] }] },
      'header',
    );
    assert.equal(
      text,
      [
        '# header',
        'groups:',
        "  - name: 'it''s'",
        '    rules:',
        "      - alert: 'A'",
        '        expr: |-',
        '          up',
        '          == 0',
        '        labels:',
        "          a: 'b'",
        '',
      ].join('\n'),
    );
  });
});
