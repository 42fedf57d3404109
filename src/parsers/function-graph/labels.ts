/** "name [module]" → its parts, cached per distinct label (one cache per sink, bounded). */
export class LabelCache {
  private readonly parts = new Map<string, { fn: string; module?: string }>();
  constructor(private readonly max = 100_000) {}

  split(label: string): { fn: string; module?: string } {
    let v = this.parts.get(label);
    if (!v) {
      const i = label.indexOf(' [');
      v = i < 0 ? { fn: label } : { fn: label.slice(0, i), module: label.slice(i + 2, -1) };
      if (this.parts.size < this.max) this.parts.set(label, v);
    }
    return v;
  }
}
