import { describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { grpcStatusOf, toGrpcError } from './grpc-errors';

describe('gRPC errors', () => {
  it('maps the HTTP status of each application error to its canonical gRPC status', () => {
    expect(grpcStatusOf(400)).toBe(status.INVALID_ARGUMENT);
    expect(grpcStatusOf(401)).toBe(status.UNAUTHENTICATED);
    expect(grpcStatusOf(403)).toBe(status.PERMISSION_DENIED);
    expect(grpcStatusOf(404)).toBe(status.NOT_FOUND);
    expect(grpcStatusOf(429)).toBe(status.RESOURCE_EXHAUSTED);
    expect(grpcStatusOf(500)).toBe(status.INTERNAL);
    expect(grpcStatusOf(418)).toBe(status.INTERNAL);
  });

  it('keeps the problem message and the validation messages', () => {
    const error = toGrpcError({
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      detail: 'The request is invalid.',
      errors: ['name should not be empty', 'id must be a UUID'],
    });
    expect(error).toEqual({
      code: status.INVALID_ARGUMENT,
      message: 'The request is invalid. name should not be empty; id must be a UUID',
    });
  });
});
