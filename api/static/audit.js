// @ts-check
/**
 * 四全审计 (auditors, admins): the existing four-all report (GET /api/audit?format=html) embedded for a period
 * chosen here (the last N days, or from/to), with CSV and JSON downloads of the same report. The report is
 * content: it is fetched with the session's viewing reason and logged by the server.
 */
import { withReason } from "./api.js";
import { h, mount, select } from "./dom.js";
import { t } from "./i18n.js";
import { ensureReason } from "./widgets.js";

/** @param {HTMLElement} container */
export function renderAudit(container) {
  const period = /** @type {HTMLSelectElement} */ (select(
    [["7", t("audit.days", { n: 7 })], ["30", t("audit.days", { n: 30 })], ["90", t("audit.days", { n: 90 })],
      ["custom", t("audit.custom")]], "30", { name: "period", onchange: () => { custom.hidden = period.value !== "custom"; } }));
  const since = /** @type {HTMLInputElement} */ (h("input", { type: "date", name: "since" }));
  const until = /** @type {HTMLInputElement} */ (h("input", { type: "date", name: "until" }));
  const custom = h("span", { hidden: true }, h("label", null, t("audit.since"), since),
    h("label", null, t("audit.until"), until));
  const csv = /** @type {HTMLAnchorElement} */ (h("a", { class: "button secondary", id: "audit-csv", download: "" },
    t("audit.csv")));
  const json = /** @type {HTMLAnchorElement} */ (h("a", { class: "button secondary", id: "audit-json", download: "" },
    t("audit.json")));
  const frame = /** @type {HTMLIFrameElement} */ (h("iframe", { class: "report", id: "audit-report",
    title: t("audit.title"), sandbox: "allow-same-origin" }));

  /** @param {string} format */
  function url(format) {
    const q = new URLSearchParams({ format });
    if (period.value === "custom") {
      if (since.value) q.set("since", new Date(since.value).toISOString());
      if (until.value) q.set("until", new Date(until.value).toISOString());
    } else q.set("days", period.value);
    return withReason(`/api/audit?${q}`);
  }

  async function show() {
    if (!(await ensureReason())) return;
    frame.src = url("html");
    csv.href = url("csv");
    json.href = url("json");
    csv.hidden = json.hidden = false;
  }
  csv.hidden = json.hidden = true;
  mount(container, h("h1", null, t("audit.title")),
    h("div", { class: "toolbar" }, h("label", null, t("audit.period"), period), custom,
      h("button", { type: "button", class: "primary", id: "audit-show", onclick: show }, t("audit.show")), csv, json),
    frame);
  show();
}
