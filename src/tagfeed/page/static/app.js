// The page: a tag's timeline (with load more and live updates), posting, counts and
// trending tags. Every piece of data from the server goes into the DOM as text
// (textContent), never as markup.
import { ApiError, currentIdentity, nextLink, query, request, useIdentity } from "./api.js";
import { drawChart, fillTable } from "./chart.js";
import { formatInstant, inputToInstant, normaliseTag, timeZone } from "./format.js";
import { LiveStream } from "./stream.js";

const PAGE_SIZE = 20;
const TRENDING_LIMIT = 10;
const USER_KEY = "tagfeed.user-id";

const $ = (id) => document.getElementById(id);
const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";

const authMode = meta("tagfeed-auth-mode") === "jwt" ? "jwt" : "gateway";
const maxTextLength = Number(meta("tagfeed-max-text-length")) || 280;

const state = {
  tag: "", // normalised tag shown, "" before the first
  start: "",
  end: "",
  next: null, // the Link rel="next" of the last page loaded
  seen: new Set(), // ids in the timeline, so live and posted messages appear once
  loads: null, // AbortController of the current tag's requests
  live: null,
};

// -- identity ---------------------------------------------------------------------------

function setUpIdentity() {
  const userId = $("user-id");
  const token = $("token");
  $(authMode === "jwt" ? "identity-jwt" : "identity-gateway").hidden = false;
  userId.value = localStorage.getItem(USER_KEY) ?? "";
  useIdentity(() => {
    if (authMode === "jwt") {
      return token.value.trim() ? { Authorization: `Bearer ${token.value.trim()}` } : {};
    }
    return userId.value.trim() ? { "X-User-ID": userId.value.trim() } : {};
  });
  userId.addEventListener("change", () => {
    localStorage.setItem(USER_KEY, userId.value.trim());
    identityChanged();
  });
  token.addEventListener("change", identityChanged);
  $("identity").addEventListener("submit", (event) => event.preventDefault());
}

function identityChanged() {
  if (state.tag) show(state.tag, state.start, state.end);
  loadTrending();
}

/** The server's detail, with a hint when the refusal is only a missing identity. */
function explain(error) {
  const missing = Object.keys(currentIdentity()).length === 0;
  if ((error.status === 401 || error.status === 403) && missing) {
    const field = authMode === "jwt" ? "a bearer token" : "a user ID";
    return `Enter ${field} at the top of the page. (${error.detail})`;
  }
  return error.detail;
}

// -- small helpers -------------------------------------------------------------------------

function setStatus(element, stateName, text) {
  element.dataset.state = stateName;
  element.textContent = text;
  element.hidden = text === "";
}

function showFieldError(input, errorElement, text) {
  errorElement.textContent = text;
  errorElement.hidden = !text;
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

function messageItem(message, fresh = false) {
  const item = document.createElement("li");
  item.className = fresh ? "message fresh" : "message";
  item.dataset.id = message.id;
  const text = document.createElement("p");
  text.className = "text";
  text.textContent = message.text;
  const info = document.createElement("p");
  info.className = "meta";
  const user = document.createElement("span");
  user.className = "user";
  user.textContent = message.user_id;
  const time = document.createElement("time");
  time.dateTime = message.created_at;
  time.textContent = formatInstant(message.created_at);
  info.append(user, " · ", time);
  item.append(text, info);
  return item;
}

function describeTimeline() {
  const count = $("messages").children.length;
  if (count === 0) {
    setStatus($("timeline-status"), "empty", `No messages for #${state.tag} in this period yet.`);
  } else {
    const more = state.next ? "; more are older" : "";
    const words = count === 1 ? "1 message" : `${count} messages`;
    setStatus($("timeline-status"), "ready", `${words} for #${state.tag}, newest first${more}.`);
  }
}

// -- timeline -------------------------------------------------------------------------------

function addMessages(messages) {
  const list = $("messages");
  const added = [];
  for (const message of messages) {
    if (state.seen.has(message.id)) continue;
    state.seen.add(message.id);
    const item = messageItem(message);
    list.append(item);
    added.push(item);
  }
  return added;
}

function prependMessage(message) {
  if (state.seen.has(message.id)) return;
  state.seen.add(message.id);
  $("messages").prepend(messageItem(message, true));
  describeTimeline();
}

async function loadPage(url, signal) {
  const response = await request(url, { signal });
  // The log position the server had reached when it began this read: live updates start
  // after it, so a post made while the page loaded is neither missed nor shown twice.
  state.after ??= response.headers.get("Tagfeed-Position");
  const messages = await response.json();
  state.next = nextLink(response);
  $("more").hidden = state.next === null;
  return addMessages(messages);
}

/** Shows a tag's timeline, counts and live updates for the chosen period. */
async function show(tag, start, end) {
  if (state.loads) state.loads.abort();
  state.loads = new AbortController();
  const { signal } = state.loads;
  Object.assign(state, { tag, start, end, next: null, seen: new Set(), after: null });
  $("compose-tag").textContent = `#${tag}`;
  document.title = `#${tag} · tagfeed`;
  $("messages").replaceChildren();
  $("more").hidden = true;
  setStatus($("timeline-status"), "loading", `Loading messages for #${tag}…`);
  loadCounts(signal);
  const url = `/v1/messages${query({ tag, dateStart: start, dateEnd: end, limit: PAGE_SIZE })}`;
  try {
    await loadPage(url, signal);
    describeTimeline();
  } catch (error) {
    if (error.name === "AbortError") return;
    setStatus($("timeline-status"), "error", `Could not load the messages: ${explain(error)}`);
  }
  startLive();
}

async function loadMore() {
  const button = $("more");
  if (!state.next || button.disabled) return;
  button.disabled = true;
  button.textContent = "Loading…";
  const signal = state.loads.signal;
  try {
    const added = await loadPage(state.next, signal);
    describeTimeline();
    // When the button goes away, keep keyboard focus in the list, on the first new one.
    if (button.hidden && added.length) {
      added[0].tabIndex = -1;
      added[0].focus();
    }
  } catch (error) {
    if (error.name === "AbortError") return;
    setStatus($("timeline-status"), "error", `Could not load more: ${explain(error)}`);
  } finally {
    button.disabled = false;
    button.textContent = "Load more";
  }
}

// -- live -------------------------------------------------------------------------------------

const LIVE_TEXT = {
  connecting: "Connecting to live updates…",
  open: "Live: new messages appear at the top",
  retrying: "Live updates interrupted; reconnecting…",
  unavailable: "Live updates unavailable: this server has no stream",
  refused: "Live updates refused",
  paused: "Live updates off: the period ends in the past",
};

function setLive(liveState, detail = "") {
  $("live").dataset.state = liveState;
  $("live-text").textContent = detail ? `${LIVE_TEXT[liveState]}: ${detail}` : LIVE_TEXT[liveState];
}

function startLive() {
  if (state.live) state.live.stop();
  state.live = null;
  if (state.end && new Date(state.end) <= new Date()) {
    setLive("paused");
    return;
  }
  const tag = state.tag;
  state.live = new LiveStream(`/v1/messages/stream${query({ tag, after: state.after })}`, {
    headers: currentIdentity,
    onState: setLive,
    onMessage: (message) => {
      if (message && typeof message.id === "string" && message.tag === tag) prependMessage(message);
    },
  });
  state.live.start();
}

// -- posting ------------------------------------------------------------------------------

function updateCount() {
  const length = [...$("text").value.trim()].length;
  const counter = $("text-count");
  counter.textContent = `${length} / ${maxTextLength}`;
  counter.dataset.over = String(length > maxTextLength);
}

async function post(event) {
  event.preventDefault();
  const text = $("text");
  const tag = $("tag");
  const button = $("post");
  showFieldError(text, $("text-error"), "");
  showFieldError(tag, $("tag-error"), "");
  $("post-error").hidden = true;
  if (!tag.value.trim()) {
    showFieldError(tag, $("tag-error"), "Enter the tag to post to.");
    tag.focus();
    return;
  }
  button.disabled = true;
  setStatus($("post-status"), "loading", "Posting…");
  try {
    const response = await request("/v1/messages", {
      method: "POST",
      body: { text: text.value, tag: tag.value },
    });
    const message = await response.json();
    text.value = "";
    updateCount();
    setStatus($("post-status"), "ready", `Posted to #${message.tag}.`);
    if (message.tag === state.tag && !(state.end && new Date(state.end) <= new Date())) {
      prependMessage(message);
      loadCounts(state.loads.signal);
    } else {
      navigate(message.tag);
    }
  } catch (error) {
    setStatus($("post-status"), "idle", "");
    const detail = explain(error);
    if (error instanceof ApiError && error.detail.startsWith("text:")) {
      showFieldError(text, $("text-error"), detail);
      text.focus();
    } else if (error instanceof ApiError && error.detail.startsWith("tag:")) {
      showFieldError(tag, $("tag-error"), detail);
      tag.focus();
    } else {
      $("post-error").textContent = `Not posted: ${detail}`;
      $("post-error").hidden = false;
    }
  } finally {
    button.disabled = false;
  }
}

// -- counts ---------------------------------------------------------------------------------

async function loadCounts(signal) {
  const status = $("counts-status");
  const granularity = $("granularity").value;
  setStatus(status, "loading", "Counting…");
  const params = { tag: state.tag, dateStart: state.start, dateEnd: state.end, granularity };
  try {
    const response = await request(`/v1/messages/counts${query(params)}`, { signal });
    const counts = await response.json();
    const buckets = counts.buckets ?? [];
    const total = $("counts-total");
    total.textContent = "";
    const number = document.createElement("strong");
    number.textContent = counts.total.toLocaleString();
    const first = buckets[0];
    const last = buckets[buckets.length - 1];
    const period = first ? ` from ${formatInstant(first.start)} to ${formatInstant(last.end)}` : "";
    total.append(number, ` ${counts.total === 1 ? "message" : "messages"} in #${state.tag}${period}`);
    total.hidden = false;
    drawChart($("chart"), buckets, granularity);
    $("chart").hidden = false;
    fillTable($("counts-table").tBodies[0], buckets, granularity);
    $("counts-table-box").hidden = false;
    if (counts.total === 0) setStatus(status, "empty", "No messages in this period.");
    else setStatus(status, "ready", "");
  } catch (error) {
    if (error.name === "AbortError") return;
    $("counts-total").hidden = true;
    $("chart").hidden = true;
    $("counts-table-box").hidden = true;
    setStatus(status, "error", `Could not count: ${explain(error)}`);
  }
}

// -- trending -------------------------------------------------------------------------------

let trendingLoads = null;

/** The `tags` of `{"window","start","end","tags":[{"tag","count","expected","score"}]}`. */
function trendingEntries(body) {
  return Array.isArray(body?.tags) ? body.tags : [];
}

async function loadTrending() {
  if (trendingLoads) trendingLoads.abort();
  trendingLoads = new AbortController();
  const list = $("trending");
  const status = $("trending-status");
  setStatus(status, "loading", "Loading trending tags…");
  const params = { window: $("window").value, limit: TRENDING_LIMIT };
  try {
    const response = await request(`/v1/tags/trending${query(params)}`, {
      signal: trendingLoads.signal,
    });
    const entries = trendingEntries(await response.json()).filter(
      (entry) => entry && typeof entry.tag === "string",
    );
    list.replaceChildren(
      ...entries.map((entry) => {
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = `#tag=${encodeURIComponent(entry.tag)}`;
        link.textContent = `#${entry.tag}`;
        const count = document.createElement("span");
        count.className = "count";
        count.textContent = Number(entry.count ?? 0).toLocaleString();
        const expected = Number(entry.expected ?? 0).toLocaleString();
        count.title = `${count.textContent} uses in the window; about ${expected} expected`;
        item.append(link, count);
        return item;
      }),
    );
    list.hidden = entries.length === 0;
    if (entries.length === 0) setStatus(status, "empty", "No tags trending in this window.");
    else setStatus(status, "ready", "");
  } catch (error) {
    if (error.name === "AbortError") return;
    list.replaceChildren();
    list.hidden = true;
    if (error.status === 404) {
      setStatus(status, "unavailable", "Trending tags are not available on this server.");
    } else {
      setStatus(status, "error", `Could not load trending tags: ${explain(error)}`);
    }
  }
}

// -- the tag and period ---------------------------------------------------------------------

function tagFromHash() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  return params.get("tag") ?? "";
}

function navigate(tag) {
  $("tag").value = tag;
  const hash = `#tag=${encodeURIComponent(tag)}`;
  if (window.location.hash !== hash) history.pushState(null, "", hash);
  submitQuery();
}

/** Reads the form; returns false (with the errors shown) when it cannot be used. */
function submitQuery() {
  const tagInput = $("tag");
  showFieldError(tagInput, $("tag-error"), "");
  const tag = normaliseTag(tagInput.value);
  if (!tag) {
    showFieldError(tagInput, $("tag-error"), "Enter a tag.");
    tagInput.focus();
    return;
  }
  const start = inputToInstant($("date-start").value);
  const end = inputToInstant($("date-end").value);
  if (start === null || end === null) {
    setStatus($("timeline-status"), "error", "The period has a date that is not valid.");
    return;
  }
  const hash = `#tag=${encodeURIComponent(tag)}`;
  if (window.location.hash !== hash) history.pushState(null, "", hash);
  show(tag, start, end);
}

function main() {
  setUpIdentity();
  $("zone-name").textContent = timeZone;
  $("text").addEventListener("input", () => {
    updateCount();
    showFieldError($("text"), $("text-error"), "");
  });
  $("tag").addEventListener("input", () => showFieldError($("tag"), $("tag-error"), ""));
  updateCount();
  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    submitQuery();
  });
  $("compose").addEventListener("submit", post);
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("compose").requestSubmit();
  });
  $("more").addEventListener("click", loadMore);
  $("granularity").addEventListener("change", () => {
    if (state.tag) loadCounts(state.loads.signal);
  });
  $("window").addEventListener("change", loadTrending);
  window.addEventListener("hashchange", () => {
    const tag = tagFromHash();
    if (tag && tag !== state.tag) navigate(tag);
  });
  loadTrending();
  const initial = tagFromHash();
  if (initial) navigate(initial);
}

main();
