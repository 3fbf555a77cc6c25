import { jest } from '@jest/globals';
import type { DataSource, EntityManager } from 'typeorm';
import { UnitOfWork } from './unit-of-work';

describe('UnitOfWork', () => {
  const pool = { name: 'pool' } as unknown as EntityManager;
  const transactional = { name: 'transaction' } as unknown as EntityManager;
  const transaction = jest.fn((work: (manager: EntityManager) => Promise<unknown>) =>
    work(transactional),
  );
  const unitOfWork = new UnitOfWork({
    manager: pool,
    transaction,
  } as unknown as DataSource);

  beforeEach(() => transaction.mockClear());

  it('hands out the transaction manager inside run and the pool outside', async () => {
    expect(unitOfWork.manager).toBe(pool);
    expect(unitOfWork.active).toBe(false);
    const seen = await unitOfWork.run(() => Promise.resolve(unitOfWork.manager));
    expect(seen).toBe(transactional);
    expect(unitOfWork.manager).toBe(pool);
  });

  it('joins a running unit of work instead of opening a second transaction', async () => {
    await unitOfWork.run(() => unitOfWork.run(() => Promise.resolve(unitOfWork.active)));
    expect(transaction).toHaveBeenCalledTimes(1);
  });

  it('calls afterCommit callbacks after the commit, and none after a rollback', async () => {
    const calls: string[] = [];
    await unitOfWork.run(() => {
      unitOfWork.afterCommit(() => calls.push('committed'));
      calls.push('work');
      return Promise.resolve();
    });
    expect(calls).toEqual(['work', 'committed']);
    const failed = unitOfWork.run(() => {
      unitOfWork.afterCommit(() => calls.push('rolled back'));
      return Promise.reject(new Error('conflict'));
    });
    await expect(failed).rejects.toThrow('conflict');
    expect(calls).toEqual(['work', 'committed']);
    expect(() => unitOfWork.afterCommit(() => undefined)).toThrow('running unit of work');
  });
});
