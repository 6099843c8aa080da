// @ts-check
/**
 * 访问日志 (auditors, admins): the access log of the user's subtree (GET /api/access-log, content: the session's
 * viewing reason, and reading it is itself logged), between two times, filtered here by outcome and by text.
 */
import { api, ApiError } from "./api.js";
import { describe, fmtTime, h, mount, select } from "./dom.js";
import { t } from "./i18n.js";
import { ensureReason } from "./widgets.js";

/** @typedef {{id: number, at: string, user: string, unit: string, reason: string, action: string, target: string,
 *   center: string | null, outcome: string, detail: string}} AccessRow */

/** @param {HTMLElement} container */
export function renderAccessLog(container) {
  /** @type {AccessRow[]} */
  let rows = [];
  const since = /** @type {HTMLInputElement} */ (h("input", { type: "datetime-local", name: "since" }));
  const until = /** @type {HTMLInputElement} */ (h("input", { type: "datetime-local", name: "until" }));
  const limit = /** @type {HTMLSelectElement} */ (select([["100", "100"], ["500", "500"], ["2000", "2000"]], "500",
    { name: "limit" }));
  const outcome = /** @type {HTMLSelectElement} */ (select([["", t("filter.all")], ["allowed", t("access.allowed")],
    ["refused", t("access.refused")]], "", { name: "outcome", onchange: () => render() }));
  const text = /** @type {HTMLInputElement} */ (h("input", { type: "search", name: "q", placeholder: t("access.filter"),
    oninput: () => render() }));
  const count = h("span", { class: "muted" });
  const table = h("div", { class: "table-wrap" });

  function render() {
    const q = text.value.trim().toLowerCase();
    const shown = rows.filter((r) => (!outcome.value || r.outcome === outcome.value) && (!q ||
      [r.user, r.unit, r.action, r.target, r.reason, r.detail].some((v) => (v || "").toLowerCase().includes(q))));
    count.textContent = t("access.count", { n: shown.length });
    const cols = ["access.at", "access.user", "access.unit", "access.action", "access.target", "access.reason",
      "access.outcome", "access.detail"];
    mount(table, h("table", { class: "grid", id: "access-log" },
      h("thead", null, h("tr", null, cols.map((c) => h("th", null, t(c))))),
      h("tbody", null, shown.map((r) => h("tr", { class: r.outcome === "refused" ? "refused" : "" },
        h("td", null, fmtTime(r.at)), h("td", null, r.user), h("td", null, r.unit), h("td", null, r.action),
        h("td", { class: "mono small" }, r.target), h("td", null, r.reason),
        h("td", null, r.outcome === "refused" ? t("access.refused") : t("access.allowed")),
        h("td", { class: "small" }, r.detail))))));
  }

  async function load() {
    if (!(await ensureReason())) return;
    const q = new URLSearchParams({ limit: limit.value });
    if (since.value) q.set("since", new Date(since.value).toISOString());
    if (until.value) q.set("until", new Date(until.value).toISOString());
    try {
      rows = await api(`/api/access-log?${q}`, { reason: true });
    } catch (e) {
      mount(table, h("p", { class: "error" }, t("common.error", { detail: e instanceof ApiError ? describe(e.detail)
        : String(e) })));
      return;
    }
    render();
  }

  mount(container, h("h1", null, t("access.title")),
    h("div", { class: "toolbar" }, h("label", null, t("filter.since"), since), h("label", null, t("filter.until"), until),
      h("label", null, t("access.limit"), limit),
      h("button", { type: "button", class: "primary", onclick: load }, t("access.load")),
      h("label", null, t("access.outcome"), outcome), text, count),
    table);
  load();
}
