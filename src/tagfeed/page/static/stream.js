// A text/event-stream reader built on fetch(). EventSource would be simpler, but it can
// send neither X-User-ID nor Authorization, and it hides the status of a refusal, so the
// page could not tell "this server has no stream" (404) from a dropped connection.
// Same wire format (docs/api.md): `id:` is the log position, `event: message`, `data:` the
// message JSON, `: heartbeat` comments; the last id goes back as Last-Event-ID on
// reconnect, and a 503 (the server's cap on streams) is retried after its Retry-After.

const FIRST_DELAY_MS = 2000;
const MAX_DELAY_MS = 30000;

/** Splits a growing text into events as the SSE specification does. */
export class EventParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.data = [];
    this.type = "";
    this.lastId = null;
    this.retry = null;
  }

  /** Forgets a half-received event (a new connection starts clean); keeps id and retry. */
  reset() {
    this.buffer = "";
    this.data = [];
    this.type = "";
  }

  push(text) {
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (!match || (match[0] === "\r" && match.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === "") {
      if (this.data.length) {
        this.onEvent({ type: this.type || "message", data: this.data.join("\n"), id: this.lastId });
      }
      this.data = [];
      this.type = "";
      return;
    }
    if (line.startsWith(":")) return; // a comment, e.g. a keep-alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

/**
 * Follows one stream URL until stop(): reconnects with Last-Event-ID after a drop (with
 * backoff), and gives up for good on 404 ("unavailable") or 401/403 ("refused").
 * onState(state, detail) gets "connecting", "open", "retrying", "unavailable", "refused".
 */
export class LiveStream {
  constructor(url, { headers, onMessage, onState }) {
    this.url = url;
    this.headers = headers;
    this.onMessage = onMessage;
    this.onState = onState;
    this.failures = 0;
    this.controller = null;
    this.timer = null;
    this.parser = new EventParser((event) => this.event(event));
  }

  start() {
    this.stop();
    this.controller = new AbortController();
    this.connect(this.controller.signal);
  }

  stop() {
    if (this.controller) this.controller.abort();
    clearTimeout(this.timer);
    this.controller = null;
  }

  event(event) {
    if (event.type !== "message") return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return; // not a message: nothing to show
    }
    try {
      this.onMessage(message, event.id);
    } catch (error) {
      console.error("tagfeed: a streamed message could not be shown", error); // stay connected
    }
  }

  async connect(signal) {
    this.onState(this.failures ? "retrying" : "connecting");
    const headers = { Accept: "text/event-stream", ...this.headers() };
    if (this.parser.lastId !== null) headers["Last-Event-ID"] = this.parser.lastId;
    let response;
    try {
      response = await fetch(this.url, { headers, signal, cache: "no-store" });
    } catch {
      if (!signal.aborted) this.later(signal);
      return;
    }
    if (response.status === 404) {
      this.onState("unavailable");
      return;
    }
    if (response.status === 401 || response.status === 403) {
      let detail = "";
      try {
        detail = (await response.json()).detail || "";
      } catch {
        // no problem body
      }
      this.onState("refused", detail);
      return;
    }
    if (response.status === 503) {
      // The server's cap on open streams (or its shutdown): come back when it says.
      const seconds = Number(response.headers.get("Retry-After"));
      this.later(signal, Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0);
      return;
    }
    const type = response.headers.get("Content-Type") || "";
    if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
      this.later(signal);
      return;
    }
    this.failures = 0;
    this.parser.reset();
    this.onState("open");
    try {
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.parser.push(value);
      }
    } catch {
      // dropped: reconnect below
    }
    if (!signal.aborted) this.later(signal);
  }

  /** Reconnects after the backoff, or after `atLeastMs` (a 503's Retry-After) if longer. */
  later(signal, atLeastMs = 0) {
    this.failures += 1;
    this.onState("retrying");
    const base = this.parser.retry ?? FIRST_DELAY_MS;
    const delay = Math.max(Math.min(base * 2 ** (this.failures - 1), MAX_DELAY_MS), atLeastMs);
    this.timer = setTimeout(() => {
      if (!signal.aborted) this.connect(signal);
    }, delay);
  }
}
