// What the engine, the server and the CLI need from a tokenizer, whatever it was built from
// (a Hugging Face tokenizer.json, or a GGUF file's vocabulary).

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  /** Append the assistant turn's opening (what transformers calls add_generation_prompt). */
  addGenerationPrompt?: boolean;
  /** Extra template variables (vLLM's chat_template_kwargs), e.g. { enable_thinking: false } for Qwen3. */
  chatTemplateKwargs?: Record<string, unknown>;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: number[];
  /** Whether encode(text, { addSpecialTokens: true }) adds BOS (and EOS where the tokenizer does). */
  readonly addsSpecialTokens: boolean;
  readonly hasChatTemplate: boolean;
  /** addSpecialTokens defaults to true (BOS as the model expects for a plain prompt). */
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  /**
   * skipSpecialTokens defaults to true. cleanUpTokenizationSpaces (" ." → "." and the like) defaults
   * to tokenizer_config.json's clean_up_tokenization_spaces, as in transformers; streamed output
   * never cleans up (IncrementalDetokenizer), like vLLM.
   */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean; cleanUpTokenizationSpaces?: boolean }): string;
  /** The vocabulary piece of one id, for logprobs (e.g. "▁the", "Ġthe"). */
  idToToken(id: number): string | undefined;
  isSpecialToken(id: number): boolean;
  /** Renders messages with the model's chat template; throws InvalidRequestError without one. */
  applyChatTemplate(messages: ChatMessage[], options?: ChatTemplateOptions): string;
}
