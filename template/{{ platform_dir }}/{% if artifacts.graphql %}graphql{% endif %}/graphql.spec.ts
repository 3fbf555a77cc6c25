import { Reflector } from '@nestjs/core';
import { ThrottlerStorageService } from '@nestjs/throttler';
import { ExecutionContextHost } from '@nestjs/core/internal';
import type { ExecutionContext } from '@nestjs/common';
import type { ComplexityEstimatorArgs, GraphQLSchemaHost } from '@nestjs/graphql';
import {
  GraphQLError,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  buildSchema,
  parse,
  validate,
} from 'graphql';
import depthLimit from 'graphql-depth-limit';
import type { Env } from '../config/env';
import { isCallerFacing, requestOf, responseOf } from '../http/execution-context';
import { PlatformThrottlerGuard } from '../throttling/platform-throttler.guard';
import { throttlerOptions } from '../throttling/throttler-options';
import { ComplexityPlugin, MAX_COMPLEXITY } from './complexity.plugin';
import { graphQLContext } from './graphql-context';
import { graphQLCodeOf, toGraphQLError } from './graphql-errors';
import { MAX_DEPTH } from './graphql.module';

const req = { headers: {}, ip: '10.0.0.1' };
const res = { header: (): void => {} };

/** The execution context of a resolver (root, args, context, info) or of an HTTP route. */
function contextOf(type: string, args: unknown[]): ExecutionContext {
  const host = new ExecutionContextHost(args);
  host.setType(type);
  return host;
}

describe('GraphQL errors', () => {
  it('names the common statuses as GraphQL codes, the others after their HTTP reason', () => {
    expect(graphQLCodeOf(400)).toBe('BAD_REQUEST');
    expect(graphQLCodeOf(401)).toBe('UNAUTHENTICATED');
    expect(graphQLCodeOf(403)).toBe('FORBIDDEN');
    expect(graphQLCodeOf(404)).toBe('NOT_FOUND');
    expect(graphQLCodeOf(429)).toBe('TOO_MANY_REQUESTS');
    expect(graphQLCodeOf(418)).toBe('I_M_A_TEAPOT');
    expect(graphQLCodeOf(599)).toBe('ERROR');
  });

  it('carries the detail as the message, the status and the validation errors', () => {
    const error = toGraphQLError({
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      detail: 'name must be a string',
      errors: ['name must be a string'],
    });
    expect(error).toBeInstanceOf(GraphQLError);
    expect(error.message).toBe('name must be a string');
    expect(error.extensions).toEqual({
      code: 'BAD_REQUEST',
      status: 400,
      errors: ['name must be a string'],
    });
    const notFound = toGraphQLError({ type: 'about:blank', title: 'Not Found', status: 404 });
    expect(notFound.message).toBe('Not Found');
    expect(notFound.extensions).toEqual({ code: 'NOT_FOUND', status: 404 });
  });
});

describe('graphQLContext', () => {
  it('holds the request and response of Apollo on Express ({ req, res })', () => {
    expect(graphQLContext({ req, res })).toEqual({ req, res });
  });

  it('holds the request and reply of Apollo on Fastify (request, reply)', () => {
    expect(graphQLContext(req, res)).toEqual({ req, res });
  });
});

describe('the depth limit', () => {
  const schema = buildSchema('type Node { name: String, child: Node }\ntype Query { node: Node }');

  /** A query whose deepest field (`name`) is `depth` levels below the root field. */
  function queryOf(depth: number): string {
    return `{ node ${'{ child '.repeat(depth - 1)}{ name }${' }'.repeat(depth - 1)} }`;
  }

  it(`lets an operation ${MAX_DEPTH} levels deep run`, () => {
    expect(validate(schema, parse(queryOf(MAX_DEPTH)), [depthLimit(MAX_DEPTH)])).toEqual([]);
  });

  it('refuses a deeper operation', () => {
    const errors = validate(schema, parse(queryOf(MAX_DEPTH + 1)), [depthLimit(MAX_DEPTH)]);
    expect(errors).toHaveLength(1);
    expect(errors[0].message).toMatch(/exceeds maximum operation depth/);
  });
});

describe('ComplexityPlugin', () => {
  const Node = new GraphQLObjectType({ name: 'Node', fields: { name: { type: GraphQLString } } });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      fields: {
        nodes: {
          type: new GraphQLList(Node),
          args: { limit: { type: new GraphQLNonNull(GraphQLInt) } },
          extensions: {
            complexity: ({ args, childComplexity }: ComplexityEstimatorArgs) =>
              1 + Number(args.limit) * childComplexity,
          },
        },
      },
    }),
  });
  const document = parse('query Page($limit: Int!) { nodes(limit: $limit) { name } }');

  async function cost(limit: number): Promise<void> {
    const plugin = new ComplexityPlugin({ schema } as GraphQLSchemaHost);
    const listener = await plugin.requestDidStart();
    const request = { operationName: 'Page', variables: { limit } };
    await listener.didResolveOperation?.({ request, document } as never);
  }

  it('lets a cheap operation run', async () => {
    await expect(cost(10)).resolves.toBeUndefined();
  });

  it('refuses an operation costing more than MAX_COMPLEXITY with a 400', async () => {
    const refused = await cost(MAX_COMPLEXITY).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(GraphQLError);
    const error = refused as GraphQLError;
    expect(error.message).toMatch(/^The operation costs \d+; at most \d+ is allowed\.$/);
    expect(error.message).toBe(
      `The operation costs ${MAX_COMPLEXITY + 1}; at most ${MAX_COMPLEXITY} is allowed.`,
    );
    expect(error.extensions).toMatchObject({ code: 'BAD_REQUEST', http: { status: 400 } });
  });
});

describe('the execution context of a GraphQL operation', () => {
  const graphql = contextOf('graphql', [{}, {}, { req, res }, {}]);

  it('is caller facing, with the request and response of its context', () => {
    expect(isCallerFacing(graphql)).toBe(true);
    expect(requestOf(graphql)).toBe(req);
    expect(responseOf(graphql)).toBe(res);
  });

  it('tells it from an RPC context (not caller facing) and an HTTP route', () => {
    expect(isCallerFacing(contextOf('rpc', [{}, {}]))).toBe(false);
    expect(isCallerFacing(contextOf('http', [req, res]))).toBe(true);
  });
});

describe('PlatformThrottlerGuard', () => {
  class Guard extends PlatformThrottlerGuard {
    requestResponseOf(context: ExecutionContext): object {
      return this.getRequestResponse(context);
    }
  }
  const storage = new ThrottlerStorageService();
  const env = { RATE_LIMIT_PER_MINUTE: 10 } as Env;
  const guard = new Guard(throttlerOptions(env, storage), storage, new Reflector());

  it('reads the request and response of a GraphQL operation', () => {
    const graphql = contextOf('graphql', [{}, {}, { req, res }, {}]);
    expect(guard.requestResponseOf(graphql)).toEqual({ req, res });
    const withoutResponse = contextOf('graphql', [{}, {}, { req }, {}]);
    expect(guard.requestResponseOf(withoutResponse)).toEqual({ req, res: {} });
  });

  it('reads the request and response of an HTTP route', () => {
    expect(guard.requestResponseOf(contextOf('http', [req, res]))).toEqual({ req, res });
  });
});
