import type { GraphQLRequestContext } from '../http/execution-context';

/**
 * The context of every GraphQL operation: `req` (read by the guards) and `res` (where the
 * throttler writes its headers). Apollo on Express calls it with `{ req, res }`, Apollo on
 * Fastify with `(request, reply)`.
 */
export function graphQLContext(first: unknown, second?: unknown): GraphQLRequestContext {
  const bag = first as { req?: unknown; res?: unknown } | undefined;
  if (bag && typeof bag === 'object' && 'req' in bag && bag.req !== undefined) {
    return { req: bag.req, res: bag.res };
  }
  return { req: first, res: second };
}
