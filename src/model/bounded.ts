/**
 * Bounded collections for what a long run reports (issue 26): each keeps a fixed number of items
 * and counts the rest, so a report can say what it did not keep. Pure.
 */

/** Things counted, with the first few kept as examples (each cut to a readable length). */
export class Counted {
  count = 0;
  readonly examples: string[] = [];

  constructor(readonly keep = 3, readonly exampleChars = 200) {}

  add(example: string): void {
    this.count++;
    if (this.examples.length < this.keep) this.examples.push(example.length > this.exampleChars ? `${example.slice(0, this.exampleChars)}… (${example.length} chars)` : example);
  }

  toJSON(): { count: number; examples: string[] } {
    return { count: this.count, examples: [...this.examples] };
  }
}

/** The last `keep` items pushed, and how many before them were let go. */
export class Ring<T> {
  private items: T[] = [];
  private head = 0;
  dropped = 0;

  constructor(readonly keep: number) {}

  push(x: T): void {
    if (this.items.length < this.keep) this.items.push(x);
    else {
      this.items[this.head] = x;
      this.head = (this.head + 1) % this.keep;
      this.dropped++;
    }
  }

  /** Oldest first. */
  values(): T[] {
    return [...this.items.slice(this.head), ...this.items.slice(0, this.head)];
  }
}
