// Renders chat messages into prompt text with the model's own Jinja chat template
// (tokenizer_config.json `chat_template`), as transformers' apply_chat_template does.
import { Template } from '@huggingface/jinja';
import type { ChatMessage } from '../protocol';
import type { TokenizerConfig } from './tokenizer';

export class ChatTemplate {
  private readonly template: Template;
  /** Mixtral-Instruct's template raises on a 'system' role; such templates get it folded in. */
  private readonly supportsSystem: boolean;

  constructor(
    source: string,
    private readonly bosToken: string,
    private readonly eosToken: string,
  ) {
    this.template = new Template(source);
    this.supportsSystem = /['"]system['"]/.test(source);
  }

  /** The template named 'default' (or the only one); throws naming the fix when there is none. */
  static fromConfig(
    config: TokenizerConfig,
    bosToken: string,
    eosToken: string,
    dir: string,
  ): ChatTemplate {
    const raw = config.chat_template;
    const source =
      typeof raw === 'string'
        ? raw
        : Array.isArray(raw)
          ? (raw.find((t) => t.name === 'default') ?? raw[0])?.template
          : undefined;
    if (!source) {
      throw new Error(
        `tokenizer_config.json in ${dir} has no chat_template: chat needs an instruct model`,
      );
    }
    return new ChatTemplate(source, bosToken, eosToken);
  }

  /**
   * Prompt text for `messages`, ending where the assistant's reply begins. `raise_exception` is
   * provided by @huggingface/jinja itself (passing one would shadow it); a template error becomes an
   * Error with the template's message.
   */
  render(messages: readonly ChatMessage[]): string {
    return this.template.render({
      messages: this.supportsSystem ? messages : foldSystemMessages(messages),
      bos_token: this.bosToken,
      eos_token: this.eosToken,
      add_generation_prompt: true,
    });
  }
}

/**
 * For templates without a system role: system text goes in front of the first user message
 * (what Mistral's own tooling does), so a system prompt is honoured rather than rejected.
 */
export function foldSystemMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content);
  const rest = messages.filter((m) => m.role !== 'system');
  if (system.length === 0) return [...rest];
  const at = rest.findIndex((m) => m.role === 'user');
  if (at < 0) return [{ role: 'user', content: system.join('\n\n') }, ...rest];
  const folded = [...rest];
  folded[at] = { role: 'user', content: `${system.join('\n\n')}\n\n${rest[at].content}` };
  return folded;
}
