import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GraphQLSchemaBuilderModule, GraphQLSchemaFactory } from '@nestjs/graphql';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { writeFileSync } from 'node:fs';

/** The schema of the resolvers in SDL, sorted as PlatformGraphQLModule serves it. */
export async function printGraphQLSchema(resolvers: Type[]): Promise<string> {
  const app = await NestFactory.createApplicationContext(GraphQLSchemaBuilderModule, {
    logger: false,
  });
  const schema = await app.get(GraphQLSchemaFactory).create(resolvers);
  await app.close();
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

/** npm run graphql:schema: writes the SDL without any server or configuration. */
export async function exportGraphQLSchema(resolvers: Type[], file: string): Promise<void> {
  writeFileSync(file, await printGraphQLSchema(resolvers));
}
