// Splits text around special tokens written out in it ("<|im_start|>user…"), so that they
// become their ids instead of being tokenized as characters. At each position the longest
// special token that starts there wins (leftmost-longest, as Hugging Face tokenizers match).

export type Fragment = string | { id: number };

export class SpecialSplitter {
  // Candidates by first UTF-16 unit, longest first.
  private readonly byFirst = new Map<string, { text: string; id: number }[]>();

  constructor(specials: { text: string; id: number }[]) {
    for (const s of specials) {
      if (s.text.length === 0) continue;
      const list = this.byFirst.get(s.text[0]) ?? [];
      if (!list.some((x) => x.text === s.text)) list.push(s); // first id wins for duplicate texts
      this.byFirst.set(s.text[0], list);
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.text.length - a.text.length);
  }

  split(text: string): Fragment[] {
    if (this.byFirst.size === 0) return text.length ? [text] : [];
    const out: Fragment[] = [];
    let plainStart = 0;
    let i = 0;
    while (i < text.length) {
      const match = this.byFirst.get(text[i])?.find((s) => text.startsWith(s.text, i));
      if (!match) {
        i++;
        continue;
      }
      if (i > plainStart) out.push(text.slice(plainStart, i));
      out.push({ id: match.id });
      i += match.text.length;
      plainStart = i;
    }
    if (plainStart < text.length) out.push(text.slice(plainStart));
    return out;
  }
}
