import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ReplicaRouter } from 'hotpath/db';

/**
 * Names the callers of every request for hotpath/db's ReplicaRouter, so a caller that just
 * wrote reads from the primary until the replica has replayed its write: the client
 * (`X-Client-Id`) and the user the request is about (`/api/users/:id/...`, or `user_id` of a
 * created payment). Each route's handler runs inside the router's context: a wrapper set when
 * the route is declared, not a request hook (see plugins/database-insights.ts for why).
 */
export function readYourWrites(app: FastifyInstance, router: ReplicaRouter): void {
  app.addHook('onRoute', (route) => {
    const handler = route.handler;
    const aboutUser = route.url.startsWith('/api/users/:id');
    route.handler = function routed(this: FastifyInstance, request, reply) {
      return router.runAs(callersOf(request, aboutUser), () => handler.call(this, request, reply));
    };
  });
}

function callersOf(request: FastifyRequest, aboutUser: boolean): string[] {
  const callers: string[] = [];
  const client = request.headers['x-client-id'];
  if (typeof client === 'string' && client !== '') callers.push(`client:${client}`);
  if (aboutUser) {
    const id = (request.params as { id?: unknown }).id;
    if (typeof id === 'string') callers.push(`user:${id}`);
  }
  const userId = (request.body as { user_id?: unknown } | undefined)?.user_id;
  if (typeof userId === 'number') callers.push(`user:${userId}`);
  return callers;
}
