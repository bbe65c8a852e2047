import type { Config } from '../config.ts';
import type { Consumer } from '../events/consumer.ts';
import type { App } from '../http/types.ts';
import type { Context } from './context.ts';

/** A route plugin of a feature, built from the context once per app. */
export type RoutesOf = (ctx: Context) => (app: App) => Promise<void>;

/**
 * What a feature module gives the composition root, declared in the module's `index.ts`.
 * Adding a feature: its folder, one line in `modules.ts`, its services in the context and its
 * migration.
 */
export interface FeatureModule {
  readonly name: string;
  /** Route plugins, registered under `prefix` (default `/api/v1`). */
  readonly routes?: readonly RoutesOf[];
  readonly prefix?: string;
  /** Consumer groups the worker role runs. */
  readonly consumers?: (ctx: Context) => readonly Consumer[];
  /** Periodic clean-up of this module's own expired rows (about once a minute, in the worker). */
  readonly housekeeping?: (ctx: Context) => Promise<void>;
  /** Off unless configuration turns it on (default: on). */
  readonly enabled?: (config: Config) => boolean;
}
