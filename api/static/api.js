// @ts-check
/**
 * The session and every call to the hub. The server decides everything (who is logged in, what a role may do,
 * what a jurisdiction sees); this module only carries the session cookie, the CSRF token of unsafe requests and
 * the viewing reason, and reports a 401 as the end of the session.
 *
 * The viewing reason (查看事由) is asked once per login and kept in sessionStorage (gone with the tab or the
 * logout): see README "Why one reason per session".
 */

/**
 * @typedef {{login: string, display_name: string, unit: string, role: string, jurisdiction: string,
 *            permissions: string[], kind: string}} Me
 * @typedef {{id: string, type: string, severity: string, camera_id: string, camera_name: string,
 *            civil_codes: string[], occurred_at: string, objects: {cls: string, confidence: number,
 *            box: number[], track_id: number | null}[], zone: string | null, rule: string | null,
 *            snapshot: {ref: string, sha256: string, width: number, height: number} | null,
 *            detail: Record<string, string | number>, escalated_from: string | null, updated_at: string | null,
 *            ended_at: string | null, centers?: string[], status?: string, escalated_to?: string | null,
 *            hold?: boolean, status_changed_at?: string, actions?: Record<string, string>[]}} HubEvent
 */

const CSRF_KEY = "sharpeyes.csrf";
const REASON_KEY = "sharpeyes.reason";

export const session = {
  /** @type {Me | null} */
  me: null,
  csrf: (() => { try { return localStorage.getItem(CSRF_KEY) || ""; } catch { return ""; } })(),
  /** @type {(message: string) => void} */
  onEnded: () => {},
};

export class ApiError extends Error {
  /** @param {number} status @param {unknown} detail */
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

/** @param {string} permission @returns {boolean} whether the logged-in role has it (the server checks again) */
export function may(permission) {
  return !!session.me && session.me.permissions.includes(permission);
}

/** @returns {string} the viewing reason of this session ('' when none was given) */
export function reason() {
  try { return sessionStorage.getItem(REASON_KEY) || ""; } catch { return ""; }
}

/** @param {string} value */
export function setReason(value) {
  try {
    if (value) sessionStorage.setItem(REASON_KEY, value); else sessionStorage.removeItem(REASON_KEY);
  } catch { /* storage unavailable: the reason is asked again */ }
}

/** @param {string} url @returns {string} the url with the session's reason (for <img>, <iframe> and links) */
export function withReason(url) {
  return url + (url.includes("?") ? "&" : "?") + "reason=" + encodeURIComponent(reason());
}

/**
 * @param {string} url
 * @param {{method?: string, body?: unknown, reason?: boolean, raw?: boolean}} [options]
 *   reason: send the session's viewing reason; raw: return the Response
 * @returns {Promise<any>}
 */
export async function api(url, options = {}) {
  const method = options.method || "GET";
  /** @type {Record<string, string>} */
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = session.csrf;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.reason) headers["X-Sharpeyes-Reason"] = encodeURIComponent(reason());
  const r = await fetch(url, { method, headers, credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  if (r.status === 401 && session.me) {
    session.me = null;
    session.onEnded("login.ended");
  }
  if (options.raw) return r;
  const text = await r.text();
  /** @type {any} */
  let data = text;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) throw new ApiError(r.status, data && typeof data === "object" && "detail" in data ? data.detail : data);
  return data;
}

/** @param {string} username @param {string} password @returns {Promise<Response>} */
export async function logIn(username, password) {
  const r = await fetch("/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
    credentials: "same-origin", body: JSON.stringify({ username, password }) });
  if (r.ok) {
    const body = await r.json();
    session.csrf = body.csrf_token;
    session.me = body.user;
    try { localStorage.setItem(CSRF_KEY, session.csrf); } catch { /* kept in memory only */ }
    setReason("");
  }
  return r;
}

export async function logOut() {
  try { await api("/api/auth/logout", { method: "POST" }); } catch { /* already ended */ }
  session.me = null;
  session.csrf = "";
  try { localStorage.removeItem(CSRF_KEY); } catch { /* nothing kept */ }
  setReason("");
}

/** @returns {Promise<Me | null>} who the session cookie belongs to, or null */
export async function whoAmI() {
  const r = await fetch("/api/auth/me", { credentials: "same-origin" });
  session.me = r.ok ? await r.json() : null;
  return session.me;
}

export const EVENT_TYPES = ["zone_intrusion", "crowd_gathering", "line_crossing", "loitering", "fall",
  "illegal_parking", "left_object", "camera_offline", "camera_online", "quality_fault"];
export const SEVERITIES = ["critical", "major", "minor", "info"];
export const STATUSES = ["new", "acknowledged", "resolved"];

/**
 * A Server-Sent Events subscription (EventSource reconnects by itself, resuming after Last-Event-ID).
 * @param {string} url
 * @param {string[]} names the event names to listen to
 * @param {(name: string, data: any) => void} onEvent
 * @param {(live: boolean) => void} [onState]
 * @returns {() => void} close
 */
export function subscribe(url, names, onEvent, onState) {
  const source = new EventSource(url, { withCredentials: true });
  for (const name of names) {
    source.addEventListener(name, (e) => {
      const msg = /** @type {MessageEvent} */ (e);
      let data;
      try { data = JSON.parse(msg.data); } catch { return; }
      onEvent(name, data);
    });
  }
  source.onopen = () => onState && onState(true);
  source.onerror = (e) => {
    // an `event: error` the server sent (e.g. Redis unreadable for a moment) is a report, not a lost connection
    if (e instanceof MessageEvent) { console.warn("server reported", url, e.data); return; }
    onState && onState(false);
    // a 401/403/404 answer closes the source for good: check whether the session is still alive
    if (source.readyState === EventSource.CLOSED) whoAmI().then((me) => { if (!me) session.onEnded("login.ended"); });
  };
  return () => source.close();
}
