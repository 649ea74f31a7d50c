// Test double of one JSON endpoint (GET PATH answers BODY, or never when BODY is null),
// installed before the page's own scripts: PATH and BODY are filled in by browser.py.
(() => {
  const previous = window.fetch.bind(window);
  window.fetch = (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    if (url.pathname !== PATH) return previous(input, init);
    if (BODY === null) return new Promise(() => {});
    return Promise.resolve(new Response(BODY, {
      status: 200, headers: {"Content-Type": "application/json"},
    }));
  };
})();
