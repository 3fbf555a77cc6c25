import { CreateIntegrationInbox1767225600000 } from './migrations/1767225600000-create-integration-inbox';
import { CreateIntegrationOutbox1767225600001 } from './migrations/1767225600001-create-integration-outbox';

/** The messaging tables (inbox and outbox), oldest first. */
export const MESSAGING_MIGRATIONS = [
  CreateIntegrationInbox1767225600000,
  CreateIntegrationOutbox1767225600001,
];
