// Incremental parser of a server-sent-events body (the WHATWG event-stream format) for OpenAI
// streams: text arrives in arbitrary network chunks, an event ends at a blank line, `data:` lines
// of one event join with "\n", comments (":" lines, keep-alives) and other fields are skipped.
// Pure; no `vscode`, no I/O.

export class SseParser {
  private buffer = '';
  private data: string[] = [];

  /** Feeds decoded text; returns the data of every event completed by it, in order. */
  push(text: string): string[] {
    this.buffer += text;
    const events: string[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone "\r" at the very end may be the first half of "\r\n": wait for the next chunk.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      if (line === '') {
        if (this.data.length > 0) events.push(this.data.join('\n'));
        this.data = [];
      } else if (line.startsWith('data:')) {
        const value = line.slice(5);
        this.data.push(value.startsWith(' ') ? value.slice(1) : value);
      }
    }
    return events;
  }

  /** End of the body: an event not closed by a blank line still counts (lenient servers). */
  end(): string[] {
    const events = this.push('\n\n');
    this.buffer = '';
    return events;
  }
}
