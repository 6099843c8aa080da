// @ts-check
/**
 * Widgets more than one page uses: the reason dialogs (viewing reason of the session; the reason of an action on
 * an event), acting on an event, the SLA clock, and the names of jurisdictions and centers.
 */
import { api, ApiError, may, reason, session, setReason } from "./api.js";
import { describe, fmtDuration, h, toast } from "./dom.js";
import { t } from "./i18n.js";

/** @typedef {import("./api.js").HubEvent} HubEvent */

/** @type {{sla_s: Record<string, number>, timezone: string}} */
export const config = { sla_s: { minor: 1800, major: 600, critical: 300 }, timezone: "Asia/Shanghai" };

/** @type {Map<string, {code: string, name: string, level: string, parent_code: string | null,
 *   has_center: boolean, synthetic: boolean, in_scope: boolean}>} */
export const places = new Map();

/** @param {string | null | undefined} code @returns {string} the node's name (or the code) */
export function placeName(code) {
  if (!code) return "";
  const node = places.get(code);
  return node ? node.name : code;
}

/** @param {HubEvent} ev @returns {string} the village/community of the event's camera */
export function villageOf(ev) {
  const path = ev.civil_codes || [];
  return path[path.length - 1] || "";
}

/**
 * A modal asking for a reason: presets, or typed. Resolves to the reason, or null when cancelled.
 * @param {{title: string, explain: string, presets?: string[], value?: string, okLabel?: string}} opts
 * @returns {Promise<string | null>}
 */
export function askReason(opts) {
  return new Promise((resolve) => {
    const input = /** @type {HTMLTextAreaElement} */ (h("textarea", { name: "reason", rows: 3, maxlength: 2000,
      required: true, "aria-label": t("reason.label") }));
    input.value = opts.value || "";
    const error = h("p", { class: "error", role: "alert" });
    const presets = (opts.presets || []).map((p) => h("button", { type: "button", class: "chip",
      onclick: () => { input.value = p; input.focus(); } }, p));
    const dialog = /** @type {HTMLDialogElement} */ (h("dialog", { class: "reason-dialog" },
      h("form", { method: "dialog", onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault();
        const value = input.value.trim();
        if (!value) { error.textContent = t("reason.required"); return; }
        dialog.close(); dialog.remove(); resolve(value);
      } },
      h("h2", null, opts.title),
      h("p", { class: "muted" }, opts.explain),
      presets.length ? h("div", { class: "chips" }, presets) : null,
      h("label", null, t("reason.label"), input),
      error,
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "secondary", onclick: () => { dialog.close(); dialog.remove();
          resolve(null); } }, t("dialog.cancel")),
        h("button", { type: "submit", class: "primary" }, opts.okLabel || t("dialog.ok"))))));
    dialog.addEventListener("cancel", () => { dialog.remove(); resolve(null); });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

const VIEW_PRESETS = ["reason.preset.duty", "reason.preset.dispose", "reason.preset.evidence", "reason.preset.audit"];

/** @returns {Promise<string | null>} the session's viewing reason, asked now if none was given yet */
export async function ensureReason(force = false) {
  if (reason() && !force) return reason();
  const value = await askReason({ title: t("reason.title"), explain: t("reason.explain"),
    presets: VIEW_PRESETS.map((k) => t(k)), value: reason() });
  if (value) {
    setReason(value);
    document.dispatchEvent(new CustomEvent("sharpeyes:reason"));
  }
  return value;
}

/** The header badge showing the session's viewing reason, with a button to change it. */
export function reasonBadge() {
  const text = h("span", { class: "reason-text" });
  const render = () => { text.textContent = reason() ? t("reason.current", { r: reason() }) : t("reason.none"); };
  render();
  document.addEventListener("sharpeyes:reason", render);
  return h("span", { class: "reason-badge" }, text,
    h("button", { type: "button", class: "link", "data-testid": "change-reason",
      onclick: () => ensureReason(true) }, t("reason.change")));
}

/** @type {Record<string, string[]>} the usual reasons of each action, one click away (typing stays possible) */
const ACTION_PRESETS = {
  ack: ["preset.ack.verify", "preset.ack.dispatch"],
  resolve: ["preset.resolve.handled", "preset.resolve.false", "preset.resolve.duplicate"],
  escalate: ["preset.escalate.beyond", "preset.escalate.coordinate"],
  hold: ["preset.hold.evidence"],
  release: ["preset.release.done"],
};

/** @param {HubEvent} ev @returns {boolean} whether the logged-in user may act on `ev` (the server decides) */
export function mayAct(ev) {
  const me = session.me;
  if (!me || !may("events:act")) return false;
  return me.role === "admin" || (ev.centers || []).includes(me.jurisdiction);
}

/** @param {HubEvent} ev @returns {string[]} the actions that make sense in the event's state */
export function actionsFor(ev) {
  if (!mayAct(ev)) return [];
  const out = [];
  if (ev.status === "new") out.push("ack");
  if (ev.status !== "resolved") out.push("resolve");
  if (!ev.escalated_to) out.push("escalate");
  out.push(ev.hold ? "release" : "hold");
  return out;
}

/**
 * Ask the action's reason, then act; resolves to the event's new state, or null.
 * @param {HubEvent} ev @param {string} action @param {string} [center] the center acting (admins)
 * @returns {Promise<HubEvent | null>}
 */
export async function act(ev, action, center) {
  const label = t("action." + action);
  const presets = (ACTION_PRESETS[action] || []).map((k) => t(k));
  const why = await askReason({ title: t("dialog.actTitle", { action: label, type: t("type." + ev.type) }),
    explain: t("dialog.actExplain"), okLabel: label, presets });
  if (!why) return null;
  /** @type {Record<string, string>} */
  const body = { reason: why };
  if (session.me && session.me.role === "admin") {
    const centers = ev.centers || [];
    body.center = center && centers.includes(center) ? center
      : centers.reduce((a, b) => (b.length > a.length ? b : a), centers[0] || session.me.jurisdiction);
  }
  try {
    const updated = await api(`/api/events/${ev.id}/${action}`, { method: "POST", body });
    toast(t("act.done", { action: label }));
    return updated;
  } catch (e) {
    toast(t("act.failed", { action: label, detail: e instanceof ApiError ? describe(e.detail) : String(e) }), true);
    return null;
  }
}

/** @param {HubEvent} ev @returns {number | null} seconds left of the event's SLA (negative: overdue), or null */
export function slaLeft(ev) {
  const sla = config.sla_s[ev.severity];
  if (!sla || (ev.status && ev.status !== "new")) return null;
  return sla - (Date.now() - Date.parse(ev.occurred_at)) / 1000;
}

/** @param {HubEvent} ev @returns {HTMLElement} the SLA clock of an event (updated by `tickSla`) */
export function slaClock(ev) {
  const el = h("span", { class: "sla", "data-sla": ev.id });
  renderSla(el, ev);
  return el;
}

/** @param {HTMLElement} el @param {HubEvent} ev */
export function renderSla(el, ev) {
  const left = slaLeft(ev);
  if (left === null) { el.textContent = ""; el.className = "sla"; return; }
  el.textContent = left >= 0 ? t("sla.left", { t: fmtDuration(left) }) : t("sla.over", { t: fmtDuration(-left) });
  el.className = "sla " + (left < 0 ? "over" : left < 120 ? "soon" : "ok");
}
