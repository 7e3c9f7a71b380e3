import { InvalidArgumentError } from 'commander';

export function parseIntOption(name: string) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be an integer, got "${value}"`);
    return Number(value);
  };
}
