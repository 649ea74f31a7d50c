// A bar chart of count buckets as plain SVG: one <rect class="bar"> per bucket, built
// with DOM calls (never markup strings), with a table of the same numbers beside it.
import { formatBucket } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 160;

function svg(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function plural(count, word) {
  return `${count.toLocaleString()} ${word}${count === 1 ? "" : "s"}`;
}

/** Draws `buckets` ([{start, end, count}]) into `figure`, replacing what was there. */
export function drawChart(figure, buckets, granularity) {
  const peak = Math.max(1, ...buckets.map((b) => b.count));
  const step = WIDTH / Math.max(1, buckets.length);
  const gap = step > 6 ? Math.min(step * 0.2, 6) : 0.5;
  const busiest = buckets.reduce((best, b) => (b.count > best.count ? b : best), buckets[0]);
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: "none",
    role: "img",
    class: "bars",
  });
  const summary = buckets.length
    ? `${plural(buckets.length, "bar")}, one per ${granularity}; the highest is ${plural(busiest.count, "message")}`
    : "no periods";
  chart.setAttribute("aria-label", `Messages per ${granularity}: ${summary}`);
  chart.append(svg("line", { x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5, class: "axis" }));
  buckets.forEach((bucket, index) => {
    const height = (bucket.count / peak) * (HEIGHT - 8);
    const bar = svg("rect", {
      x: index * step + gap / 2,
      y: HEIGHT - height,
      width: Math.max(step - gap, 0.5),
      height,
      class: "bar",
      "data-count": bucket.count,
    });
    const title = svg("title", {});
    title.textContent = `${formatBucket(bucket.start, granularity)}: ${plural(bucket.count, "message")}`;
    bar.append(title);
    chart.append(bar);
  });

  const scale = document.createElement("div");
  scale.className = "scale";
  scale.setAttribute("aria-hidden", "true");
  const top = document.createElement("span");
  top.textContent = `max ${peak.toLocaleString()}`;
  scale.append(top);

  const axis = document.createElement("div");
  axis.className = "ticks";
  axis.setAttribute("aria-hidden", "true");
  for (const bucket of [buckets[0], buckets[buckets.length - 1]]) {
    const tick = document.createElement("span");
    tick.textContent = bucket ? formatBucket(bucket.start, granularity) : "";
    axis.append(tick);
  }
  figure.replaceChildren(scale, chart, axis);
}

/** Fills the table body with one row per bucket. */
export function fillTable(tbody, buckets, granularity) {
  tbody.replaceChildren(
    ...buckets.map((bucket) => {
      const row = document.createElement("tr");
      const period = document.createElement("td");
      const time = document.createElement("time");
      time.dateTime = bucket.start;
      time.textContent = formatBucket(bucket.start, granularity);
      period.append(time);
      const count = document.createElement("td");
      count.textContent = bucket.count.toLocaleString();
      row.append(period, count);
      return row;
    }),
  );
}
