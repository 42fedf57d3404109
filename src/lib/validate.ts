import { UsageError } from './errors.js';

/** A decimal integer in [min, max], or a UsageError naming the option. */
export function intOption(name: string, v: string, min: number, max: number): number {
  if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`invalid ${name} ${JSON.stringify(v.slice(0, 40))}: expected an integer from ${min} to ${max}`);
  }
  return Number(v);
}

/** One of a fixed set of words. */
export function choiceOption<T extends string>(name: string, v: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(v)) {
    throw new UsageError(`unknown ${name} ${JSON.stringify(v.slice(0, 40))}: expected ${choices.join(', ')}`);
  }
  return v as T;
}

