// @ts-check
/**
 * 事件研判: the review queue of one center. The archived events first (GET /api/centers/{code}/events), then
 * live: new events from the center's stream (SSE GET /api/centers/{code}/events/stream) and every change of an
 * event (an action by anyone, an escalation, a later state of the incident) from the change feed (SSE
 * GET /api/ui/changes). No polling: the only timer ticks the SLA clocks. Cards are keyed by event id and
 * replaced in place. Keyboard: j/k select, a acknowledge, r resolve, e escalate, Enter/o details.
 */
import { api, EVENT_TYPES, may, reason, SEVERITIES, session, STATUSES, subscribe, withReason } from "./api.js";
import { fmtTime, h, mount, select } from "./dom.js";
import { t } from "./i18n.js";
import { act, actionsFor, ensureReason, placeName, places, renderSla, slaClock, villageOf } from "./widgets.js";

/** @typedef {import("./api.js").HubEvent} HubEvent */

const LIMIT = 200;
/** The filters survive going to an event's details and back. */
const filters = { center: "", type: "", severity: "", status: "", camera: "", village: "", since: "", until: "" };

/** @param {HubEvent} ev @returns {boolean} whether `ev` passes the filters */
function matches(ev) {
  if (filters.type && ev.type !== filters.type) return false;
  if (filters.severity && ev.severity !== filters.severity) return false;
  if (filters.status && (ev.status || "new") !== filters.status) return false;
  if (filters.camera && ev.camera_id !== filters.camera) return false;
  if (filters.village && !(ev.civil_codes || []).includes(filters.village)) return false;
  if (filters.since && Date.parse(ev.occurred_at) < Date.parse(filters.since)) return false;
  if (filters.until && Date.parse(ev.occurred_at) >= Date.parse(filters.until)) return false;
  return true;
}

const ALERTS_KEY = "sharpeyes.alerts";

/** @returns {boolean} whether this browser's user asked for alerts on major and critical events */
function alertsOn() { return localStorage.getItem(ALERTS_KEY) === "1"; }

/** Alerts on or off for this user in this browser; on asks the desktop-notification permission once. */
/** @param {boolean} on */
function setAlerts(on) {
  localStorage.setItem(ALERTS_KEY, on ? "1" : "0");
  if (on && "Notification" in window && Notification.permission === "default") void Notification.requestPermission();
}

/** A short tone and, where permitted, a desktop notification for a new major or critical event (opt-in). */
/** @param {HubEvent} ev */
function alert_(ev) {
  if (!alertsOn()) return;
  try {
    const ctx = new AudioContext();
    const tone = ctx.createOscillator();
    const gain = ctx.createGain();
    tone.frequency.value = ev.severity === "critical" ? 1175 : 880;
    gain.gain.value = 0.15;
    tone.connect(gain).connect(ctx.destination);
    tone.start();
    tone.stop(ctx.currentTime + (ev.severity === "critical" ? 0.6 : 0.3));
    tone.onended = () => void ctx.close();
  } catch { /* no audio device: the notification still comes */ }
  if ("Notification" in window && Notification.permission === "granted") {
    new Notification(t("queue.alertTitle", { severity: t("severity." + ev.severity), type: t("type." + ev.type) }),
      { body: ev.camera_name || ev.camera_id, tag: ev.id });
  }
  document.dispatchEvent(new CustomEvent("sharpeyes:alert", { detail: { id: ev.id, severity: ev.severity } }));
}

/** @param {HTMLElement} container */
export function renderQueue(container) {
  /** @type {Map<string, HubEvent>} */
  const items = new Map();
  /** @type {Map<string, HTMLElement>} */
  const cards = new Map();
  /** @type {(() => void)[]} */
  const closers = [];
  let selected = "";
  let cameras = /** @type {{id: string, name: string}[]} */ ([]);

  const list = h("section", { class: "queue", id: "events", "aria-live": "polite" });
  const counter = h("span", { class: "counter", "data-testid": "unhandled" });
  const shown = h("span", { class: "muted", "data-testid": "shown" });
  const liveState = h("span", { class: "live", "data-testid": "live" });
  const bar = h("div", { class: "filters" });
  const alertBox = /** @type {HTMLInputElement} */ (h("input", { type: "checkbox", "data-testid": "alerts",
    onchange: () => setAlerts(alertBox.checked) }));
  alertBox.checked = alertsOn();
  const alertToggle = h("label", { class: "alerts", title: t("queue.alertsHint") }, alertBox, t("queue.alerts"));
  mount(container, h("div", { class: "toolbar" }, bar,
    h("div", { class: "stats" }, counter, shown, liveState, alertToggle)),
    h("p", { class: "muted small keys" }, t("queue.keys")), list);

  function updateCounts() {
    let unhandled = 0;
    for (const ev of items.values()) if ((ev.status || "new") === "new") unhandled++;
    counter.textContent = t("queue.unhandled", { n: unhandled });
    counter.classList.toggle("hot", unhandled > 0);
    shown.textContent = t("queue.shown", { n: cards.size });
    if (!cards.size) mount(list, h("p", { class: "empty", id: "empty" }, t("queue.empty")));
    else list.querySelector("#empty")?.remove();
  }

  /** @param {HubEvent} ev */
  function thumb(ev) {
    if (!ev.snapshot || !may("snapshots:read")) return null;
    if (!reason()) {
      return h("button", { type: "button", class: "thumb none", onclick: (/** @type {Event} */ e) => {
        e.stopPropagation(); ensureReason();
      } }, t("reason.give"));
    }
    return h("img", { class: "thumb", loading: "lazy", alt: t("type." + ev.type),
      src: withReason(`/snapshots/${ev.snapshot.ref}`) });
  }

  /** @param {HubEvent} ev */
  function card(ev) {
    const status = ev.status || "new";
    const village = villageOf(ev);
    const el = h("article", { class: `card ev ${ev.severity} ${status}${ev.id === selected ? " selected" : ""}`,
      dataset: { id: ev.id, status }, tabindex: 0,
      onclick: () => { select_(ev.id); },
      ondblclick: () => { location.hash = `#/event/${ev.id}`; } },
    thumb(ev),
    h("div", { class: "body" },
      h("div", { class: "line1" },
        h("span", { class: "sev " + ev.severity }, t("severity." + ev.severity)),
        h("strong", { class: "type" }, t("type." + ev.type)),
        h("span", { class: "status " + status, "data-testid": "status" }, t("status." + status)),
        ev.hold ? h("span", { class: "tag" }, t("ev.hold")) : null,
        slaClock(ev)),
      h("div", { class: "line2" }, ev.camera_name || ev.camera_id, " · ", placeName(village),
        ev.zone ? ` · ${ev.zone}` : ""),
      h("div", { class: "muted small" }, fmtTime(ev.occurred_at), " · ", t("ev.objects", { n: ev.objects.length }),
        ev.ended_at ? ` · ${t("ev.ended")}` : ev.updated_at ? ` · ${t("ev.ongoing")}` : "",
        ev.escalated_to && ev.escalated_to !== "-" ? ` · ${t("ev.escalatedTo", { c: placeName(ev.escalated_to) })}`
          : "",
        ev.escalated_from ? ` · ${t("ev.escalatedFrom", { c: placeName(ev.escalated_from) })}` : ""),
      h("div", { class: "actions" },
        actionsFor(ev).filter((a) => a !== "release" && a !== "hold").map((a) => h("button", { type: "button",
          class: a === "ack" ? "primary" : "secondary", "data-action": a,
          onclick: (/** @type {Event} */ e) => { e.stopPropagation(); doAct(ev.id, a); } }, t("action." + a))),
        h("a", { href: `#/event/${ev.id}`, class: "button link", "data-action": "open",
          onclick: (/** @type {Event} */ e) => e.stopPropagation() }, t("action.open")))));
    return el;
  }

  /** Insert or replace the card of `ev` at its place (newest first); drop it when it no longer passes. */
  /** @param {HubEvent} ev */
  function upsert(ev) {
    const known = items.get(ev.id);
    const merged = known ? { ...known, ...ev } : ev;
    if (!merged.status) merged.status = "new";
    if (!matches(merged)) {
      items.delete(ev.id);
      cards.get(ev.id)?.remove();
      cards.delete(ev.id);
      updateCounts();
      return;
    }
    items.set(ev.id, merged);
    const fresh = card(merged);
    const old = cards.get(ev.id);
    cards.set(ev.id, fresh);
    if (old) old.replaceWith(fresh);
    else {
      const after = [...list.querySelectorAll("article.card")].find((c) => ((/** @type {HTMLElement} */ (c))
        .dataset.id || "") < ev.id);
      if (after) after.before(fresh); else list.append(fresh);
      if (!selected || !cards.has(selected)) select_(ev.id);
    }
    while (cards.size > LIMIT) {
      const oldest = [...cards.keys()].sort()[0];
      cards.get(oldest)?.remove(); cards.delete(oldest); items.delete(oldest);
    }
    updateCounts();
  }

  /** @param {string} id */
  function select_(id) {
    selected = id;
    for (const [cid, el] of cards) el.classList.toggle("selected", cid === id);
    const el = cards.get(id);
    if (el) { el.focus({ preventScroll: true }); el.scrollIntoView({ block: "nearest" }); }
  }

  /** @param {string} id @param {string} action */
  async function doAct(id, action) {
    const ev = items.get(id);
    if (!ev || !actionsFor(ev).includes(action)) return;
    const updated = await act(ev, action, filters.center);
    if (updated) upsert(updated);
  }

  /** @param {KeyboardEvent} e */
  function onKey(e) {
    const target = /** @type {HTMLElement} */ (e.target);
    if (e.ctrlKey || e.metaKey || e.altKey || document.querySelector("dialog[open]")) return;
    if (target && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
    const ids = [...cards.keys()].sort().reverse();
    const at = ids.indexOf(selected);
    if (e.key === "j" || e.key === "k") {
      const next = e.key === "j" ? Math.min(ids.length - 1, at + 1) : Math.max(0, at - 1);
      if (ids[next]) select_(ids[next]);
    } else if (e.key === "a" && selected) doAct(selected, "ack");
    else if (e.key === "r" && selected) doAct(selected, "resolve");
    else if (e.key === "e" && selected) doAct(selected, "escalate");
    else if ((e.key === "Enter" || e.key === "o") && selected) location.hash = `#/event/${selected}`;
    else return;
    e.preventDefault();
  }
  document.addEventListener("keydown", onKey);
  const onReason = () => { for (const ev of items.values()) upsert(ev); };
  document.addEventListener("sharpeyes:reason", onReason);
  const ticker = setInterval(() => {
    for (const el of list.querySelectorAll("[data-sla]")) {
      const ev = items.get(/** @type {HTMLElement} */ (el).dataset.sla || "");
      if (ev) renderSla(/** @type {HTMLElement} */ (el), ev);
    }
  }, 1000);

  function stopStreams() { while (closers.length) closers.pop()?.(); }

  async function load() {
    stopStreams();
    items.clear(); cards.clear(); list.replaceChildren();
    const code = filters.center;
    if (!code) { updateCounts(); return; }
    const q = new URLSearchParams({ limit: String(LIMIT) });
    if (filters.type) q.set("type", filters.type);
    if (filters.status) q.set("status", filters.status);
    if (filters.camera) q.set("camera_id", filters.camera);
    if (filters.since) q.set("since", new Date(filters.since).toISOString());
    if (filters.until) q.set("until", new Date(filters.until).toISOString());
    const since = new Date().toISOString();
    // subscribe first, so nothing that happens while the list loads is missed (upserts are idempotent)
    const liveFlags = { stream: false, changes: false };
    const showLive = () => {
      const live = liveFlags.stream && liveFlags.changes;
      liveState.textContent = live ? "● " + t("queue.live") : t("queue.offline");
      liveState.classList.toggle("down", !live);
    };
    // heartbeat below the hub's Redis socket timeout (5 s): a longer blocking read would time out server-side
    closers.push(subscribe(`/api/centers/${code}/events/stream?heartbeat_s=4`, EVENT_TYPES, (_name, ev) => {
      const known = items.get(ev.id);
      if (!known && (ev.severity === "major" || ev.severity === "critical")) alert_(ev);
      upsert(known ? { ...ev, status: known.status, centers: known.centers, escalated_to: known.escalated_to,
        hold: known.hold } : { ...ev, status: "new", centers: [code], escalated_to: null, hold: false });
    }, (live) => { liveFlags.stream = live; showLive(); }));
    closers.push(subscribe(`/api/ui/changes?since=${encodeURIComponent(since)}`, ["change"], (_name, ev) => {
      if (items.has(ev.id) || (ev.centers || []).includes(code)) upsert(ev);
    }, (live) => { liveFlags.changes = live; showLive(); }));
    try {
      const page = await api(`/api/centers/${code}/events?${q}`);
      for (const ev of page.items.slice().reverse()) if (!items.has(ev.id)) upsert(ev);
    } catch (e) {
      mount(list, h("p", { class: "error" }, t("common.error", { detail: String(e) })));
    }
    updateCounts();
    if (!selected || !cards.has(selected)) {
      const first = [...cards.keys()].sort().pop();
      if (first) select_(first);
    }
  }

  async function filterBar() {
    const centers = await api("/api/centers");
    try { cameras = await api("/api/cameras"); } catch { cameras = []; }
    const me = /** @type {import("./api.js").Me} */ (session.me);
    if (!filters.center || !centers.some((/** @type {any} */ c) => c.code === filters.center)) {
      const own = centers.find((/** @type {any} */ c) => c.code === me.jurisdiction);
      filters.center = own ? own.code : centers.length ? centers[0].code : "";
    }
    const all = /** @type {[string, string]} */ (["", t("filter.all")]);
    const villages = [...places.values()].filter((p) => p.level === "village" || p.level === "grid");
    /** @param {string} key @param {string} label @param {[string, string][]} options */
    const field = (key, label, options) => h("label", null, label,
      select(options, /** @type {any} */ (filters)[key], { name: key, onchange: (/** @type {Event} */ e) => {
        /** @type {any} */ (filters)[key] = /** @type {HTMLSelectElement} */ (e.target).value; load();
      } }));
    /** @param {string} key @param {string} label */
    const time = (key, label) => h("label", null, label, h("input", { type: "datetime-local", name: key,
      value: /** @type {any} */ (filters)[key], onchange: (/** @type {Event} */ e) => {
        /** @type {any} */ (filters)[key] = /** @type {HTMLInputElement} */ (e.target).value; load();
      } }));
    mount(bar,
      field("center", t("queue.center"), centers.map((/** @type {any} */ c) => [c.code, c.name])),
      field("type", t("filter.type"), [all, ...EVENT_TYPES.map((v) => /** @type {[string, string]} */ (
        [v, t("type." + v)]))]),
      field("severity", t("filter.severity"), [all, ...SEVERITIES.map((v) => /** @type {[string, string]} */ (
        [v, t("severity." + v)]))]),
      field("status", t("filter.status"), [all, ...STATUSES.map((v) => /** @type {[string, string]} */ (
        [v, t("status." + v)]))]),
      field("camera", t("filter.camera"), [all, ...cameras.map((c) => /** @type {[string, string]} */ (
        [c.id, c.name]))]),
      field("village", t("filter.village"), [all, ...villages.map((v) => /** @type {[string, string]} */ (
        [v.code, v.name]))]),
      time("since", t("filter.since")), time("until", t("filter.until")),
      h("button", { type: "button", class: "secondary", onclick: () => {
        Object.assign(filters, { type: "", severity: "", status: "", camera: "", village: "", since: "", until: "" });
        filterBar();
      } }, t("filter.reset")),
      may("events:act") ? null : h("span", { class: "muted" }, t("queue.noActions")));
    await load();
  }

  filterBar().catch((e) => mount(list, h("p", { class: "error" }, t("common.error", { detail: String(e) }))));

  return () => {
    stopStreams();
    clearInterval(ticker);
    document.removeEventListener("keydown", onKey);
    document.removeEventListener("sharpeyes:reason", onReason);
  };
}
