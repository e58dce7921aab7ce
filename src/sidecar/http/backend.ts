// What the HTTP endpoint needs from the sidecar: the loaded model's name and two ways to generate,
// both going through the sidecar's one scheduler (SidecarServer implements this). A narrow
// interface, so the HTTP layer does not reach into the server's model state.
import type { ChatParams, GenerationResult, SamplingParams } from '../../protocol';

export interface TextPromptParams extends SamplingParams {
  /** Plain text continued as-is (BOS prepended when the model wants it), or token ids used as-is. */
  prompt: string | number[];
  /** Request id for logs. */
  streamId: string;
}

export interface ApiBackend {
  /** Name of the loaded model (its folder name); undefined while none is loaded. */
  modelId(): string | undefined;
  /**
   * Chat through the model's chat template. Rejects with NotInitialized (no model) or
   * GenerationFailed (engine error, prompt too long). Aborting `signal` cancels the job whether it is
   * queued or running; the result then has finishReason 'cancelled'.
   */
  chat(
    params: ChatParams,
    signal: AbortSignal,
    onDelta: (delta: string) => void,
  ): Promise<GenerationResult>;
  /** Raw continuation of a text or token prompt; same errors and cancellation as chat. */
  continueText(
    params: TextPromptParams,
    signal: AbortSignal,
    onDelta: (delta: string) => void,
  ): Promise<GenerationResult>;
}
