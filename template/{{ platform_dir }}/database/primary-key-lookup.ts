import type { ObjectLiteral, Repository } from 'typeorm';

/** Loads one entity by its primary key, or null when no row has it. */
export type PrimaryKeyLookup<T> = (id: string) => Promise<T | null>;

/**
 * A lookup by primary key whose SQL is built once from the entity's TypeORM metadata.
 * `findOneBy({ id })` builds a query builder, renders and rewrites the SQL and maps aliased columns
 * on every call, which costs more CPU than running the query (README, Performance). Rows are
 * hydrated as TypeORM hydrates them (the driver's conversions and column transformers), so the
 * entity is the same as findOneBy's.
 */
export function primaryKeyLookup<T extends ObjectLiteral>(
  repository: Repository<T>,
): PrimaryKeyLookup<T> {
  const { metadata } = repository;
  const { driver } = repository.manager.connection;
  const [primary, ...rest] = metadata.primaryColumns;
  if (!primary || rest.length > 0) {
    throw new Error(`${metadata.name}: a lookup by primary key needs exactly one primary column`);
  }
  // The columns findOneBy reads: not `select: false`, not a relation's implicit key, not virtual.
  const read = metadata.columns.filter(
    (column) => column.isSelect && !column.isVirtual && !column.isVirtualProperty,
  );
  const columns = read.map(
    (column) => `${driver.escape(column.databaseName)} AS ${driver.escape(column.propertyName)}`,
  );
  const table = metadata.tablePath
    .split('.')
    .map((part) => driver.escape(part))
    .join('.');
  const key = `${driver.escape(primary.databaseName)} = ${driver.createParameter('id', 0)}`;
  const sql = `SELECT ${columns.join(', ')} FROM ${table} WHERE ${key}`;

  return async (id) => {
    const rows: ObjectLiteral[] = await repository.query(sql, [id]);
    const row = rows[0];
    if (row === undefined) {
      return null;
    }
    const entity = repository.create();
    for (const column of read) {
      column.setEntityValue(entity, driver.prepareHydratedValue(row[column.propertyName], column));
    }
    return entity;
  };
}
