import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startEmbedded } from 'hotpath/db';
import { buildTestApp } from '../helpers/app.js';
import { routesOf, startupBanner } from '../../service/route-table.js';

const gateway = {
  charge: () => Promise.resolve({ status: 'authorized' as const, reference: 'ch_x' }),
};
const base = 'http://127.0.0.1:3000';

async function bannerOf(profiling: 'on' | 'off') {
  const db = await startEmbedded({ dataDir: 'memory://' });
  const app = await buildTestApp(
    { profiling },
    {
      db,
      gateway,
    },
  );
  await app.ready();
  return {
    app,
    lines: startupBanner(base, routesOf(app)),
    close: async () => {
      await app.close();
      await db.close();
    },
  };
}

describe('start-up banner', () => {
  test('lists the dashboard, /metrics, /debug/pprof/ and every API and health route', async () => {
    const { lines, close } = await bannerOf('on');
    try {
      for (const url of ['/dashboard', '/metrics', '/debug/pprof/'])
        assert.ok(
          lines.some((line) => line.endsWith(`${base}${url}`)),
          `${url} missing: ${lines.join('\n')}`,
        );
      for (const route of [
        'POST   /api/payments',
        'GET    /api/payments/:id',
        'GET    /api/payments/:id/receipt',
        'GET    /api/users/:id/payments',
        'GET    /api/users/:id/summary',
        'GET    /api/users/latest-payments',
        'GET    /health/live',
        'GET    /health/ready',
      ]) {
        const [method, url] = route.split(/ +/) as [string, string];
        assert.ok(
          lines.includes(`  ${method.padEnd(6)} ${base}${url}`),
          `${route} missing: ${lines.join('\n')}`,
        );
      }
    } finally {
      await close();
    }
  });

  test('every route line is a route Fastify serves, HEAD twins left out', async () => {
    const { app, lines, close } = await bannerOf('on');
    try {
      const routeLines = lines.filter((line) => /^ {2}[A-Z]+ +http/.test(line));
      assert.ok(routeLines.length > 0);
      for (const line of routeLines) {
        const [method, url] = line.trim().split(/ +/) as [string, string];
        assert.notEqual(method, 'HEAD');
        const path = url.slice(base.length);
        assert.ok(app.hasRoute({ method: method as 'GET', url: path }), `${line}: no such route`);
      }
    } finally {
      await close();
    }
  });

  test('leaves /debug/pprof/ out when profiling is off', async () => {
    const { lines, close } = await bannerOf('off');
    try {
      assert.ok(!lines.some((line) => line.includes('/debug/pprof')), lines.join('\n'));
      assert.ok(lines.some((line) => line.endsWith(`${base}/metrics`)));
    } finally {
      await close();
    }
  });
});
