/**
 * Errors the use cases throw, with no transport in them: the exception filters give each its
 * status (problem+json, GraphQL and gRPC errors alike), and its message becomes the `detail`.
 */

/** The record the use case needs does not exist: 404, gRPC NOT_FOUND. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}
