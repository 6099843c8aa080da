// @ts-check
/**
 * 事件详情: one event with its snapshot, the detections and the rule's zone or line drawn over it (SVG, from the
 * event's boxes and the camera's rule), the incident's timeline, the action log (who, center, reason, when), the
 * routing path with escalations, and the actions. Event content and snapshots are fetched only with the
 * session's viewing reason (asked first); the server logs each view with the logged-in user and unit. Live: the
 * change feed re-reads the event when anyone acts on it.
 */
import { api, ApiError, may, reason, subscribe, withReason } from "./api.js";
import { fmtTime, h, mount, s } from "./dom.js";
import { t } from "./i18n.js";
import { act, actionsFor, ensureReason, placeName, places, slaClock } from "./widgets.js";

/** @typedef {import("./api.js").HubEvent} HubEvent */

const COLORS = ["#f97316", "#22d3ee", "#a3e635", "#f472b6", "#facc15", "#60a5fa"];

/**
 * The snapshot with the detections and the rule's geometry drawn over it.
 * @param {HubEvent} ev @param {Record<string, any> | undefined} rule the camera's rule that fired
 */
export function annotatedSnapshot(ev, rule) {
  const snap = /** @type {NonNullable<HubEvent["snapshot"]>} */ (ev.snapshot);
  const { width: w, height: hgt } = snap;
  const overlay = s("svg", { class: "overlay", viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: "none",
    "data-testid": "overlay" });
  if (rule && Array.isArray(rule.zone)) {
    overlay.append(s("polygon", { class: "zone", points: rule.zone.map((/** @type {number[]} */ p) =>
      `${p[0] * w},${p[1] * hgt}`).join(" ") }));
  }
  if (rule && Array.isArray(rule.line)) {
    const [[x1, y1], [x2, y2]] = rule.line;
    overlay.append(s("line", { class: "rule-line", x1: x1 * w, y1: y1 * hgt, x2: x2 * w, y2: y2 * hgt }));
  }
  ev.objects.forEach((o, i) => {
    const [x1, y1, x2, y2] = o.box;
    const color = COLORS[(o.track_id ?? i) % COLORS.length];
    overlay.append(s("g", { class: "box" },
      s("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, stroke: color }),
      s("text", { x: x1 + 2, y: Math.max(12, y1 - 4), fill: color },
        `${o.cls} ${(o.confidence * 100).toFixed(0)}%${o.track_id !== null ? ` #${o.track_id}` : ""}`)));
  });
  const toggle = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", checked: true, name: "overlay",
    onchange: () => overlay.classList.toggle("off", !toggle.checked) }));
  return h("figure", { class: "snapshot" },
    h("div", { class: "frame", style: { aspectRatio: `${w} / ${hgt}` } },
      h("img", { src: withReason(`/snapshots/${snap.ref}`), alt: t("detail.snapshot"), "data-testid": "snapshot" }),
      overlay),
    h("figcaption", { class: "muted small" }, h("label", { class: "inline" }, toggle, t("detail.overlay")), " ",
      h("span", { class: "legend boxes" }, t("detail.legendBoxes")), " ",
      rule ? h("span", { class: "legend zone" }, `${t("detail.legendZone")}: ${rule.name}`) : null));
}

/** @param {HubEvent} ev */
function timeline(ev) {
  /** @type {[string, string, string][]} */
  const rows = [[ev.occurred_at, t("detail.occurred"), ""]];
  if (ev.updated_at) rows.push([ev.updated_at, t("detail.updated"), ""]);
  if (ev.ended_at) rows.push([ev.ended_at, t("detail.endedAt"), ""]);
  for (const a of ev.actions || []) {
    rows.push([a.at, t("action." + a.action), `${a.user} · ${placeName(a.center)}`]);
  }
  rows.sort((a, b) => Date.parse(a[0]) - Date.parse(b[0]));
  return h("ol", { class: "timeline" }, rows.map(([at, what, who]) =>
    h("li", null, h("time", null, fmtTime(at)), " ", h("strong", null, what), who ? ` · ${who}` : "")));
}

/** @param {HubEvent} ev */
function actionLog(ev) {
  const actions = ev.actions || [];
  if (!actions.length) return h("p", { class: "muted" }, t("detail.noActions"));
  return h("table", { class: "grid", "data-testid": "action-log" },
    h("thead", null, h("tr", null, ["detail.when", "detail.what", "detail.who", "detail.unit", "detail.reason"]
      .map((k) => h("th", null, t(k))))),
    h("tbody", null, actions.map((a) => h("tr", null, h("td", null, fmtTime(a.at)),
      h("td", null, t("action." + a.action)), h("td", null, a.user), h("td", null, placeName(a.center)),
      h("td", null, a.reason)))));
}

/** @param {HubEvent} ev */
function routing(ev) {
  const centers = ev.centers || [];
  return h("ol", { class: "route", "data-testid": "routing" }, ev.civil_codes.map((code) => {
    const node = places.get(code);
    const delivered = centers.includes(code);
    return h("li", { class: delivered ? "delivered" : "" },
      h("strong", null, placeName(code)), " ", h("span", { class: "muted small" }, code), " ",
      node && node.has_center ? h("span", { class: "tag" + (delivered ? " on" : "") },
        delivered ? t("detail.delivered") : t("detail.notDelivered")) : null,
      ev.escalated_to === code ? h("span", { class: "tag warn" }, t("ev.escalatedTo", { c: placeName(code) })) : null);
  }));
}

/** @param {HTMLElement} container @param {string[]} params */
export function renderDetail(container, params) {
  const id = params[0] || "";
  /** @type {(() => void) | null} */
  let close = null;
  /** @type {Record<string, any>[] | null} */
  let cameraRules = null;
  const back = h("a", { href: "#/queue", class: "back" }, t("detail.back"));

  async function rulesOf(/** @type {string} */ cameraId) {
    if (cameraRules) return cameraRules;
    try {
      const cams = await api("/api/cameras");
      const cam = cams.find((/** @type {any} */ c) => c.id === cameraId);
      cameraRules = cam ? cam.rules : [];
    } catch { cameraRules = []; }
    return /** @type {Record<string, any>[]} */ (cameraRules);
  }

  async function show() {
    if (!reason()) {
      mount(container, back, h("div", { class: "card gate" }, h("p", null, t("reason.explain")),
        h("button", { type: "button", class: "primary", "data-testid": "give-reason",
          onclick: async () => { if (await ensureReason()) show(); } }, t("reason.give"))));
      return;
    }
    /** @type {HubEvent} */
    let ev;
    try {
      ev = await api(`/api/events/${encodeURIComponent(id)}`, { reason: true });
    } catch (e) {
      const notFound = e instanceof ApiError && (e.status === 404 || e.status === 422);
      mount(container, back, h("p", { class: "error" }, notFound ? t("detail.notFound") : t("common.error",
        { detail: String(e) })));
      return;
    }
    const rules = await rulesOf(ev.camera_id);
    const rule = rules.find((r) => r.name === ev.rule);
    const status = ev.status || "new";
    const buttons = actionsFor(ev).map((a) => h("button", { type: "button", class: a === "ack" ? "primary" : "secondary",
      "data-action": a, onclick: async () => { if (await act(ev, a)) show(); } }, t("action." + a)));
    let snapshot;
    if (!ev.snapshot) snapshot = h("p", { class: "muted" }, t("detail.noSnapshot"));
    else if (!may("snapshots:read")) snapshot = h("p", { class: "muted" }, t("detail.noSnapshotRole"));
    else snapshot = annotatedSnapshot(ev, rule);
    mount(container, back,
      h("div", { class: "detail", "data-id": ev.id, "data-status": status },
        h("div", { class: "head" },
          h("span", { class: "sev " + ev.severity }, t("severity." + ev.severity)),
          h("h1", null, t("type." + ev.type)),
          h("span", { class: "status " + status, "data-testid": "status" }, t("status." + status)),
          ev.hold ? h("span", { class: "tag" }, t("ev.hold")) : null,
          slaClock(ev),
          h("div", { class: "actions" }, buttons)),
        h("div", { class: "columns" },
          h("section", null, snapshot,
            h("dl", { class: "facts" },
              h("dt", null, t("detail.camera")), h("dd", null, `${ev.camera_name || ""} ${ev.camera_id}`),
              h("dt", null, t("detail.rule")), h("dd", null, ev.rule || "—"),
              h("dt", null, t("detail.zone")), h("dd", null, ev.zone || "—"),
              h("dt", null, t("detail.id")), h("dd", { class: "mono" }, ev.id),
              h("dt", null, t("detail.figures")), h("dd", null, Object.entries(ev.detail || {})
                .map(([k, v]) => `${k}=${v}`).join(" · ") || "—"))),
          h("section", null,
            h("h2", null, t("detail.routing")), routing(ev),
            h("h2", null, t("detail.timeline")), timeline(ev),
            h("h2", null, t("detail.actions")), actionLog(ev)))));
  }

  show();
  close = subscribe("/api/ui/changes", ["change"], (_name, ev) => { if (ev.id === id && reason()) show(); });
  const onReason = () => show();
  document.addEventListener("sharpeyes:reason", onReason);
  return () => { close && close(); document.removeEventListener("sharpeyes:reason", onReason); };
}
