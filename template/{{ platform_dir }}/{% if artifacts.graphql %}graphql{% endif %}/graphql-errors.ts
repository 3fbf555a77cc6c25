import { GraphQLError } from 'graphql';
import { STATUS_CODES } from 'node:http';
import type { ProblemDetails } from '../http/problem-details';

const CODES: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  429: 'TOO_MANY_REQUESTS',
  500: 'INTERNAL_SERVER_ERROR',
};

/** The GraphQL error code of an HTTP status: NOT_FOUND for 404, UNAUTHENTICATED for 401. */
export function graphQLCodeOf(status: number): string {
  return CODES[status] ?? (STATUS_CODES[status] ?? 'ERROR').toUpperCase().replace(/\W+/g, '_');
}

/**
 * A problem details object as a GraphQL error: the message is the problem's detail, as REST
 * gives it; `extensions` carry the GraphQL code, the HTTP status and the validation messages.
 */
export function toGraphQLError(problem: ProblemDetails): GraphQLError {
  return new GraphQLError(problem.detail ?? problem.title, {
    extensions: {
      code: graphQLCodeOf(problem.status),
      status: problem.status,
      ...(problem.errors ? { errors: problem.errors } : {}),
    },
  });
}
