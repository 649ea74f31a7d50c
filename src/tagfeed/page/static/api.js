// The HTTP API as the page uses it: identity headers on every request, problem+json
// details as error messages, and the Link rel="next" cursor of a list.

/** A refusal or failure; `detail` is the server's problem+json detail when there is one. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

let identityHeaders = () => ({});

/** Sets the function that gives the identity headers (X-User-ID or Authorization). */
export function useIdentity(headers) {
  identityHeaders = headers;
}

export function currentIdentity() {
  return identityHeaders();
}

async function problemDetail(response) {
  try {
    const body = await response.json();
    if (body && typeof body.detail === "string") return body.detail;
  } catch {
    // not JSON: fall through to the status line
  }
  return `the server answered ${response.status} ${response.statusText}`.trim();
}

/**
 * fetch() with the identity headers; resolves to the Response when it is 2xx, else
 * rejects with an ApiError (status 0 when the server could not be reached). An abort
 * rejects with the AbortError itself, so callers can ignore it.
 */
export async function request(path, { method = "GET", body, headers = {}, signal } = {}) {
  const all = { Accept: "application/json", ...identityHeaders(), ...headers };
  if (body !== undefined) all["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: all,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "the server could not be reached");
  }
  if (!response.ok) throw new ApiError(response.status, await problemDetail(response));
  return response;
}

/** The same-origin URL of the Link rel="next" header, or null on the last page. */
export function nextLink(response) {
  const header = response.headers.get("Link");
  if (!header) return null;
  for (const part of header.split(",")) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (match && /(^|;)\s*rel="?next"?\s*(;|$)/.test(match[2])) {
      const url = new URL(match[1], window.location.href);
      return url.origin === window.location.origin ? url.pathname + url.search : null;
    }
  }
  return null;
}

/** A query string of the parameters that have a value. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
