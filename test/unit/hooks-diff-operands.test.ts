import { describe, expect, it } from 'vitest';
import { diffOperands } from '../../src/commands/hooks.js';
import { UsageError } from '../../src/lib/errors.js';

describe('hooks --diff operands', () => {
  it('a saved file, or netns:NAME listed live; a file named like one is given as ./netns:…', () => {
    expect(diffOperands(['before.json', 'netns:blue'])).toEqual([{ file: 'before.json' }, { netns: 'blue' }]);
    expect(diffOperands(['netns:blue', 'netns:red'])).toEqual([{ netns: 'blue' }, { netns: 'red' }]);
    expect(diffOperands(['./netns:blue'])).toEqual([{ file: './netns:blue' }]);
    expect(diffOperands(['netns:blue', 'saved.json'])).toEqual([{ netns: 'blue' }, { file: 'saved.json' }]);
  });
  it.each([
    [[], 'one or two listings'],
    [['a', 'b', 'c'], 'one or two listings'],
    [['netns:../x'], 'invalid --diff "netns:../x"'],
    [['netns:'], 'invalid --diff "netns:"'],
    [['netns:a b'], 'invalid --diff'],
    [['netns:blue'], 'alone compares nothing'],
  ])('%j is refused (exit 2) before anything runs', (args, why) => {
    expect(() => diffOperands(args)).toThrow(UsageError);
    expect(() => diffOperands(args)).toThrow(why);
  });
});
