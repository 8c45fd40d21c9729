// SentencePiece BPE over a GGUF 'llama' vocabulary: spaces become "▁", the text is split into
// characters, adjacent pieces merge best-score-first into pieces of the vocabulary, and what no
// piece covers falls back to byte tokens <0xXX> (or <unk> without them), as SentencePiece and
// llama.cpp do.
import { mergePairs } from './pair-merge.js';

const SPACE_MARK = '▁';

export class SpmEncoder {
  private readonly pieceIds = new Map<string, number>();
  private readonly byteIds = new Int32Array(256).fill(-1);

  constructor(
    tokens: string[],
    private readonly scores: Float32Array,
    private readonly unkId: number | null,
  ) {
    // First id wins for duplicate pieces, as in llama.cpp's token-to-id map.
    for (let id = 0; id < tokens.length; id++) if (!this.pieceIds.has(tokens[id])) this.pieceIds.set(tokens[id], id);
    for (let b = 0; b < 256; b++) {
      const id = this.pieceIds.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      if (id !== undefined) this.byteIds[b] = id;
    }
  }

  /** Appends the ids of a plain-text fragment; `prefixSpace` adds SentencePiece's dummy prefix. */
  encode(text: string, prefixSpace: boolean, out: number[]): void {
    const escaped = (prefixSpace ? ' ' + text : text).replaceAll(' ', SPACE_MARK);
    if (escaped.length === 0) return;
    const pieces = mergePairs(Array.from(escaped), (left, right) => {
      const id = this.pieceIds.get(left + right);
      return id === undefined ? undefined : this.scores[id];
    });
    for (const piece of pieces) {
      const id = this.pieceIds.get(piece);
      if (id !== undefined) out.push(id);
      else this.byteFallback(piece, out);
    }
  }

  // A piece outside the vocabulary is one character (merges only make vocabulary pieces): its
  // UTF-8 bytes as byte tokens, or one <unk> when the vocabulary has no byte tokens for them.
  private byteFallback(piece: string, out: number[]): void {
    const bytes = Buffer.from(piece, 'utf8');
    if (bytes.every((b) => this.byteIds[b] >= 0)) for (const b of bytes) out.push(this.byteIds[b]);
    else if (this.unkId !== null) out.push(this.unkId);
  }
}
