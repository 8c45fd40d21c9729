// createChatTemplate on its own (it also serves GGUF tokenizer.chat_template).
import { describe, expect, it } from 'vitest';
import { InvalidRequestError, ModelLoadError } from '../lib/errors.js';
import { createChatTemplate, strftime } from '../lib/tokenizer/chat-template.js';

const ALTERNATING =
  "{{ bos_token }}{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]{% else %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}" +
  '{% if add_generation_prompt %}<assistant>{% endif %}';

describe('createChatTemplate', () => {
  const render = createChatTemplate(ALTERNATING, { bos: '<s>', eos: '</s>' });

  it('renders messages with bos_token, eos_token and add_generation_prompt', () => {
    const messages = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'bye' },
    ];
    expect(render(messages)).toBe('<s>[INST] hi [/INST]hello</s>[INST] bye [/INST]');
    expect(render(messages, { addGenerationPrompt: true })).toBe('<s>[INST] hi [/INST]hello</s>[INST] bye [/INST]<assistant>');
  });

  it("the template's raise_exception becomes an InvalidRequestError with its message", () => {
    const bad = [
      { role: 'assistant', content: 'first' },
      { role: 'user', content: 'second' },
    ];
    expect(() => render(bad)).toThrow(InvalidRequestError);
    expect(() => render(bad)).toThrow('the chat template rejected the messages: Conversation roles must alternate user/assistant/user/assistant/...');
  });

  it('a template that does not parse is a ModelLoadError naming its origin', () => {
    expect(() => createChatTemplate('{% for m in messages %}{{ m.content }}', {}, 'model.gguf')).toThrow(ModelLoadError);
    expect(() => createChatTemplate('{% if %}', {}, 'model.gguf')).toThrow(/^model\.gguf: the chat template is not valid Jinja/);
    expect(() => createChatTemplate('   ', {})).toThrow(/empty/);
  });

  it('bad messages are InvalidRequestErrors', () => {
    expect(() => render('hi' as never)).toThrow(/messages must be an array/);
    expect(() => render([{ role: 'user' }] as never)).toThrow(/messages\[0\]\.content must be a string/);
    expect(() => render([{ role: '', content: 'x' }])).toThrow(/messages\[0\]\.role/);
    expect(() => render([null] as never)).toThrow(InvalidRequestError);
  });

  it('a template failing at render time (not raise_exception) is an InvalidRequestError too', () => {
    const broken = createChatTemplate('{{ messages[0].content.nosuchmethod() }}', {});
    expect(() => broken([{ role: 'user', content: 'x' }])).toThrow(/the chat template could not render these messages/);
  });

  it('chatTemplateKwargs add variables but cannot replace the ones the renderer provides', () => {
    const t = createChatTemplate('{% if enable_thinking is defined and not enable_thinking %}no-think{% endif %}{{ messages | length }}', {});
    expect(t([{ role: 'user', content: 'x' }], { chatTemplateKwargs: { enable_thinking: false } })).toBe('no-think1');
    expect(t([{ role: 'user', content: 'x' }])).toBe('1');
    expect(() => t([], { chatTemplateKwargs: { messages: [] } })).toThrow(/may not set "messages"/);
    expect(() => t([], { chatTemplateKwargs: { raise_exception: 1 } })).toThrow(/may not set "raise_exception"/);
  });

  it('strftime_now, range and namespace are available, as in transformers', () => {
    const t = createChatTemplate(
      "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }} {{ strftime_now('%Y') }}",
      {},
    );
    expect(t([])).toBe(`3 ${new Date().getFullYear()}`);
  });

  it('strftime follows Python in the C locale', () => {
    const d = new Date(2024, 6, 4, 15, 5, 9); // local time: 4 July 2024, 15:05:09
    expect(strftime(d, '%d %b %Y')).toBe('04 Jul 2024');
    expect(strftime(d, '%A %B %-d, %y %H:%M:%S %I%p %j %%')).toBe('Thursday July 4, 24 15:05:09 03PM 186 %');
  });
});
