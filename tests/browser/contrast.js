// Every visible text element's colour against the first opaque background behind it,
// as WCAG 2 computes contrast; returns those under 4.5:1.
const channel = (c) => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
const parse = (text) => text.match(/[\d.]+/g).map(Number);
const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
const background = (element) => {
  for (let e = element; e; e = e.parentElement) {
    const rgba = parse(getComputedStyle(e).backgroundColor);
    if (rgba.length < 4 || rgba[3] === 1) return rgba.slice(0, 3);
  }
  return [255, 255, 255];
};
const low = [];
for (const element of document.body.querySelectorAll("*")) {
  const own = [...element.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !element.checkVisibility() || element.closest(".visually-hidden")) continue;
  const [l1, l2] = [luminance(parse(getComputedStyle(element).color)), luminance(background(element))];
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  if (ratio < 4.5) low.push(`${element.tagName}#${element.id}.${element.className}: ${ratio.toFixed(2)}`);
}
return low;
