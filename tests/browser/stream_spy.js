// A tap on the page's requests to the real GET /v1/messages/stream, installed before the
// page's own scripts: keeps each request's URL, headers and time (ms) in
// window.streamRequests, and
// window.dropStream() cuts the open one as a network failure would (the page's own abort
// signal still works).
(() => {
  const realFetch = window.fetch.bind(window);
  window.streamRequests = [];
  let current = null;
  window.dropStream = () => current?.abort();
  window.fetch = (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    if (url.pathname !== "/v1/messages/stream") return realFetch(input, init);
    window.streamRequests.push({url: url.pathname + url.search, headers: {...init.headers}, at: performance.now()});
    current = new AbortController();
    init.signal?.addEventListener("abort", () => current.abort());
    return realFetch(input, {...init, signal: current.signal});
  };
})();
