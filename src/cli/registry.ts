import type { Command } from 'commander';
import type { CliContext } from './context.ts';

/** Commands of the ingestion, billing and operations parts are registered here. */
export function registerExtraCommands(_program: Command, _ctx: CliContext): void {}
