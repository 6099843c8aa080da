// @ts-check
/**
 * The small component layer: `h()` builds elements (text is always set as text, never parsed as HTML), `s()` SVG
 * elements, `mount()` replaces a container's content, plus the formatting helpers every page uses.
 */
import { lang, t } from "./i18n.js";

/**
 * @typedef {string | number | Node | null | undefined | false} Child
 * @typedef {Record<string, any>} Props  class, dataset, style, on<event>, hidden, value, any attribute
 */

/**
 * @param {string} tag
 * @param {Props | null} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props || {});
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * @param {string} tag
 * @param {Props | null} [props]
 * @param {...(Child | Child[])} children
 * @returns {SVGElement}
 */
export function s(tag, props, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(SVG_NS, tag));
  apply(el, props || {});
  append(el, children);
  return el;
}

/** @param {Element} el @param {Props} props */
function apply(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.setAttribute("class", String(value));
    else if (key === "dataset") Object.assign(/** @type {HTMLElement} */ (el).dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(/** @type {HTMLElement} */ (el).style, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "selected") /** @type {any} */ (el)[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

/** @param {Element} el @param {(Child | Child[])[]} children */
function append(el, children) {
  for (const child of children.flat(3)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** @param {Element} container @param {...(Child | Child[])} children */
export function mount(container, ...children) {
  container.replaceChildren();
  append(container, children);
}

/**
 * A `<select>` of `options` ([value, label]) with `value` selected.
 * @param {[string, string][]} options @param {string} value @param {Props} [props]
 */
export function select(options, value, props) {
  return h("select", props || null, options.map(([v, label]) => h("option", { value: v, selected: v === value },
    label)));
}

/** @param {string | Date | null | undefined} iso @returns {string} local date and time, in the UI language */
export function fmtTime(iso) {
  if (!iso) return "";
  const d = iso instanceof Date ? iso : new Date(iso);
  return d.toLocaleString(lang(), { hour12: false });
}

/** @param {number} seconds @returns {string} m:ss or h:mm:ss */
export function fmtDuration(seconds) {
  const sec = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}

/** @param {number | null | undefined} ratio @returns {string} a percentage, or a dash */
export function fmtPct(ratio) {
  return ratio === null || ratio === undefined ? t("cams.rateNa") : `${(ratio * 100).toFixed(1)}%`;
}

/** @param {unknown} detail an API error's detail @returns {string} */
export function describe(detail) {
  if (typeof detail === "string") return detail;
  if (detail && typeof detail === "object" && "message" in detail) return String(/** @type {any} */ (detail).message);
  if (Array.isArray(detail)) return detail.map((d) => (d && d.msg ? `${(d.loc || []).join(".")}: ${d.msg}` : String(d)))
    .join("; ");
  return JSON.stringify(detail);
}

/** @param {string} text the message of a short-lived notice at the bottom of the page @param {boolean} [bad] */
export function toast(text, bad = false) {
  const el = h("div", { class: "toast" + (bad ? " bad" : ""), role: "status" }, text);
  document.body.append(el);
  setTimeout(() => el.remove(), bad ? 8000 : 3000);
}
