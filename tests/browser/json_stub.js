// Test double of one JSON endpoint (GET PATH answers BODY with STATUS, or never when BODY
// is null), installed before the page's own scripts: filled in by browser.py.
(() => {
  const previous = window.fetch.bind(window);
  window.fetch = (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    if (url.pathname !== PATH) return previous(input, init);
    if (BODY === null) return new Promise(() => {});
    const type = STATUS < 400 ? "application/json" : "application/problem+json";
    return Promise.resolve(new Response(BODY, {status: STATUS, headers: {"Content-Type": type}}));
  };
})();
