// The two enumerations a GGUF file is written in: the type of each metadata value, and the ggml
// storage type of each tensor (with its block geometry, so a tensor's byte size can be checked
// against the file before anything trusts it).

/** GGUF metadata value types (the `gguf_type` enumeration of the GGUF specification). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

const VALUE_TYPE_NAMES = Object.fromEntries(Object.entries(GgufValueType).map(([k, v]) => [v, k])) as Record<number, string>;

export function isGgufValueType(code: number): code is GgufValueType {
  return VALUE_TYPE_NAMES[code] !== undefined;
}

export function ggufValueTypeName(code: number): string {
  return VALUE_TYPE_NAMES[code] ?? `unknown type ${code}`;
}

/** Bytes a fixed-size value takes in the file; 0 for STRING and ARRAY (variable size). */
export function ggufFixedSize(type: GgufValueType): number {
  switch (type) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
    case GgufValueType.BOOL:
      return 1;
    case GgufValueType.UINT16:
    case GgufValueType.INT16:
      return 2;
    case GgufValueType.UINT32:
    case GgufValueType.INT32:
    case GgufValueType.FLOAT32:
      return 4;
    case GgufValueType.UINT64:
    case GgufValueType.INT64:
    case GgufValueType.FLOAT64:
      return 8;
    default:
      return 0;
  }
}

/**
 * The fewest bytes one value of this type can take in the file: a string is at least its 8-byte
 * length, an array its 4-byte element type and 8-byte count. Claimed counts are multiplied by this
 * and compared with the bytes left before anything is allocated.
 */
export function ggufMinValueSize(type: GgufValueType): number {
  if (type === GgufValueType.STRING) return 8;
  if (type === GgufValueType.ARRAY) return 12;
  return ggufFixedSize(type);
}

export interface GgmlTypeInfo {
  name: string;
  /** Elements per storage block. */
  blockElems: number;
  /** Bytes per storage block. */
  blockBytes: number;
}

/**
 * Every ggml tensor type a GGUF file may name, by its code. The reader needs the block geometry of
 * all of them (not only those the engine runs) so that `info` can describe any file and the loader
 * can name the unsupported type instead of failing on a size it cannot compute. Codes that ggml has
 * retired (Q4_2, Q4_3, the repacked Q4_0_x_y and IQ4_NL_x_y layouts) are absent: files with them are
 * rejected, as llama.cpp does.
 */
export const GGML_TYPES: ReadonlyMap<number, GgmlTypeInfo> = new Map([
  [0, { name: 'F32', blockElems: 1, blockBytes: 4 }],
  [1, { name: 'F16', blockElems: 1, blockBytes: 2 }],
  [2, { name: 'Q4_0', blockElems: 32, blockBytes: 18 }],
  [3, { name: 'Q4_1', blockElems: 32, blockBytes: 20 }],
  [6, { name: 'Q5_0', blockElems: 32, blockBytes: 22 }],
  [7, { name: 'Q5_1', blockElems: 32, blockBytes: 24 }],
  [8, { name: 'Q8_0', blockElems: 32, blockBytes: 34 }],
  [9, { name: 'Q8_1', blockElems: 32, blockBytes: 36 }],
  [10, { name: 'Q2_K', blockElems: 256, blockBytes: 84 }],
  [11, { name: 'Q3_K', blockElems: 256, blockBytes: 110 }],
  [12, { name: 'Q4_K', blockElems: 256, blockBytes: 144 }],
  [13, { name: 'Q5_K', blockElems: 256, blockBytes: 176 }],
  [14, { name: 'Q6_K', blockElems: 256, blockBytes: 210 }],
  [15, { name: 'Q8_K', blockElems: 256, blockBytes: 292 }],
  [16, { name: 'IQ2_XXS', blockElems: 256, blockBytes: 66 }],
  [17, { name: 'IQ2_XS', blockElems: 256, blockBytes: 74 }],
  [18, { name: 'IQ3_XXS', blockElems: 256, blockBytes: 98 }],
  [19, { name: 'IQ1_S', blockElems: 256, blockBytes: 50 }],
  [20, { name: 'IQ4_NL', blockElems: 32, blockBytes: 18 }],
  [21, { name: 'IQ3_S', blockElems: 256, blockBytes: 110 }],
  [22, { name: 'IQ2_S', blockElems: 256, blockBytes: 82 }],
  [23, { name: 'IQ4_XS', blockElems: 256, blockBytes: 136 }],
  [24, { name: 'I8', blockElems: 1, blockBytes: 1 }],
  [25, { name: 'I16', blockElems: 1, blockBytes: 2 }],
  [26, { name: 'I32', blockElems: 1, blockBytes: 4 }],
  [27, { name: 'I64', blockElems: 1, blockBytes: 8 }],
  [28, { name: 'F64', blockElems: 1, blockBytes: 8 }],
  [29, { name: 'IQ1_M', blockElems: 256, blockBytes: 56 }],
  [30, { name: 'BF16', blockElems: 1, blockBytes: 2 }],
  [34, { name: 'TQ1_0', blockElems: 256, blockBytes: 54 }],
  [35, { name: 'TQ2_0', blockElems: 256, blockBytes: 66 }],
  [39, { name: 'MXFP4', blockElems: 32, blockBytes: 17 }],
]);

export function ggmlTypeName(code: number): string {
  return GGML_TYPES.get(code)?.name ?? `unknown ggml type ${code}`;
}
