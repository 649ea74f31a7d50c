// Test double of GET /v1/messages/stream (its contract in docs/api.md), installed
// before the page's own scripts: BODY and CLOSE are filled in by browser.py.
(() => {
  const realFetch = window.fetch.bind(window);
  window.streamRequests = [];
  window.fetch = (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    if (url.pathname !== "/v1/messages/stream") return realFetch(input, init);
    window.streamRequests.push({url: url.pathname + url.search, headers: {...init.headers}});
    const bytes = new TextEncoder().encode(BODY);
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(bytes.slice(0, 7));  // split mid-line: the parser must buffer
        controller.enqueue(bytes.slice(7));
        if (CLOSE) controller.close();
        init.signal?.addEventListener("abort", () => controller.error(new DOMException("", "AbortError")));
      },
    });
    return Promise.resolve(new Response(body, {
      status: 200, headers: {"Content-Type": "text/event-stream"},
    }));
  };
})();
