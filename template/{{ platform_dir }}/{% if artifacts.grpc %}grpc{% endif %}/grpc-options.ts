import { Transport } from '@nestjs/microservices';
import type { GrpcOptions } from '@nestjs/microservices';
import { join } from 'node:path';
import type { Env } from '../config/env';

/** A gRPC package of this application and its contract, relative to the proto/ directory. */
export interface GrpcContract {
  package: string;
  file: string;
}

/** Where the .proto contracts are: proto/ at the repository root, and in the image. */
export const PROTO_ROOT = join(process.cwd(), 'proto');

/**
 * How @grpc/proto-loader turns messages into objects: camelCase fields, fields the caller did not
 * set left out (so that validation sees them missing), 64-bit integers as strings.
 */
export const PROTO_LOADER: NonNullable<GrpcOptions['options']['loader']> = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: false,
  includeDirs: [PROTO_ROOT],
};

/** The gRPC server of the hybrid application: the given packages on GRPC_PORT. */
export function grpcServerOptions(env: Env, contracts: readonly GrpcContract[]): GrpcOptions {
  return {
    transport: Transport.GRPC,
    options: {
      package: contracts.map((contract) => contract.package),
      protoPath: contracts.map((contract) => contract.file),
      url: `0.0.0.0:${env.GRPC_PORT}`,
      loader: PROTO_LOADER,
    },
  };
}
