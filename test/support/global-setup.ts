import { prepareTemplate, removeTemplates } from './test-databases.ts';

/** Runs once per `npm test`, before any test file: one migrated template for the whole run. */
export async function globalSetup(): Promise<void> {
  await prepareTemplate();
}

export async function globalTeardown(): Promise<void> {
  await removeTemplates();
}
