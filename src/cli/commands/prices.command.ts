import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadPriceBook } from '../../billing/price-book.service.ts';
import { InputError } from '../../errors.ts';
import type { CliContext } from '../context.ts';

export function registerPrices(program: Command, ctx: CliContext): void {
  const prices = program.command('prices').description('price book versions');
  prices
    .command('load')
    .description('load a price book version (JSON, see docs/file-formats.md)')
    .argument('<file>', 'price book JSON file')
    .action(async (file: string) => {
      let json: unknown;
      try {
        json = JSON.parse(await readFile(file, 'utf8'));
      } catch (error) {
        throw new InputError(
          `${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not valid JSON: ${(error as Error).message}`}`,
        );
      }
      const { db } = await ctx.database();
      const { inserted, book } = await loadPriceBook(db, json, file);
      const owner = book.tenantId ? `tenant ${book.tenantId}` : 'default';
      ctx.print(
        inserted
          ? `loaded price book ${book.id} (${owner}, ${book.currency}, valid from ${book.validFrom})`
          : `price book ${book.id} (${owner}, valid from ${book.validFrom}) was already loaded: nothing changed`,
      );
    });
}
