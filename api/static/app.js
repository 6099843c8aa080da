// @ts-check
/**
 * The web app's entry: deny by default (nothing but the login form renders without a session the server
 * confirms), then the header (user, unit, role, jurisdiction, language, logout), the role-aware navigation and a
 * hash router over the pages. A page is `render(container, params) -> cleanup`.
 */
import { api, logIn, logOut, may, session, whoAmI } from "./api.js";
import { h, mount } from "./dom.js";
import { lang, setLang, t } from "./i18n.js";
import { config, placeName, places, reasonBadge } from "./widgets.js";
import { renderQueue } from "./queue.js";
import { renderDetail } from "./detail.js";
import { renderCameras } from "./cameras.js";
import { renderAudit } from "./audit.js";
import { renderAccessLog } from "./accesslog.js";
import { renderMap } from "./map.js";
import { renderSystem } from "./system.js";

/** @typedef {(container: HTMLElement, params: string[]) => (void | (() => void))} Page */

/** @type {{path: string, nav?: string, allowed: () => boolean, page: Page}[]} */
const ROUTES = [
  { path: "queue", nav: "nav.queue", allowed: () => may("events:read"), page: renderQueue },
  { path: "event", allowed: () => may("events:read"), page: renderDetail },
  { path: "cameras", nav: "nav.cameras", allowed: () => may("cameras:read"), page: renderCameras },
  { path: "map", nav: "nav.map", allowed: () => may("cameras:read"), page: renderMap },
  { path: "audit", nav: "nav.audit", allowed: () => may("audit:read"), page: renderAudit },
  { path: "access", nav: "nav.access", allowed: () => may("access_log:read"), page: renderAccessLog },
  { path: "system", nav: "nav.system", allowed: () => may("ops:read"), page: renderSystem },
];

const root = /** @type {HTMLElement} */ (document.getElementById("root"));
/** @type {(() => void) | void} */
let cleanup;

function stopPage() {
  if (typeof cleanup === "function") cleanup();
  cleanup = undefined;
}

/** @param {string} [messageKey] */
function showLogin(messageKey) {
  stopPage();
  document.body.classList.remove("signed-in");
  const notice = document.getElementById("no-admin");
  const error = h("p", { class: "error", id: "login-error", role: "alert" }, messageKey ? t(messageKey) : "");
  const user = /** @type {HTMLInputElement} */ (h("input", { id: "username", name: "username",
    autocomplete: "username", required: true }));
  const pass = /** @type {HTMLInputElement} */ (h("input", { id: "password", name: "password", type: "password",
    autocomplete: "current-password", required: true }));
  const form = h("form", { id: "login", class: "card login", onsubmit: async (/** @type {Event} */ e) => {
    e.preventDefault();
    let r;
    try { r = await logIn(user.value.trim(), pass.value); } catch { error.textContent = t("login.unreachable"); return; }
    pass.value = "";
    if (r.status === 429) { error.textContent = t("login.throttled", { s: r.headers.get("Retry-After") || "?" }); return; }
    if (!r.ok) { error.textContent = t("login.wrong"); return; }
    await start();
  } },
  h("h1", null, t("app.title")),
  h("h2", null, t("login.title")),
  h("label", null, t("login.username"), user),
  h("label", null, t("login.password"), pass),
  h("button", { type: "submit", class: "primary" }, t("login.submit")),
  error,
  h("p", { class: "muted small" }, t("login.hint")),
  languageButton(() => showLogin(messageKey)));
  mount(root, notice, form);
  user.focus();
}

/** @param {() => void} rerender */
function languageButton(rerender) {
  return h("button", { type: "button", class: "link lang", "data-testid": "lang",
    onclick: () => { setLang(lang() === "zh-CN" ? "en" : "zh-CN"); rerender(); } }, t("lang.switch"));
}

function header() {
  const me = /** @type {import("./api.js").Me} */ (session.me);
  const current = location.hash.replace(/^#\/?/, "").split("/")[0];
  return h("header", { class: "top" },
    h("div", { class: "brand" }, t("app.title")),
    h("nav", null, ROUTES.filter((r) => r.nav && r.allowed()).map((r) =>
      h("a", { href: `#/${r.path}`, class: current === r.path ? "active" : "", "data-nav": r.path },
        t(/** @type {string} */ (r.nav))))),
    h("div", { class: "who", id: "me" },
      h("span", { class: "name", "data-testid": "user" }, me.display_name || me.login),
      h("span", { class: "unit", "data-testid": "unit" }, me.unit || "—"),
      h("span", { class: "role", "data-testid": "role" }, t("role." + me.role)),
      h("span", { class: "jurisdiction", "data-testid": "jurisdiction", title: me.jurisdiction },
        `${t("header.jurisdiction")} ${placeName(me.jurisdiction)}`),
      may("snapshots:read") || may("audit:read") ? reasonBadge() : null,
      languageButton(route),
      h("button", { type: "button", id: "logout", class: "secondary", onclick: async () => {
        await logOut();
        showLogin("login.loggedOut");
      } }, t("header.logout"))));
}

function route() {
  if (!session.me) { showLogin(); return; }
  stopPage();
  const [path, ...params] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const allowed = ROUTES.filter((r) => r.allowed());
  let target = allowed.find((r) => r.path === path);
  if (!target) {
    const first = allowed.find((r) => r.nav);
    if (first && path !== first.path && !ROUTES.some((r) => r.path === path)) {
      location.replace(`#/${first.path}`);
      return;
    }
  }
  const main = h("main", { id: "page" });
  document.body.classList.add("signed-in");
  mount(root, header(), main);
  if (!target) { mount(main, h("p", { class: "notice" }, t("common.forbidden"))); return; }
  cleanup = target.page(main, params);
}

async function start() {
  const me = await whoAmI();
  if (!me) { showLogin(); return; }
  try {
    const [cfg, nodes] = await Promise.all([api("/api/ui/config"), api("/api/ui/jurisdictions")]);
    Object.assign(config, cfg);
    places.clear();
    for (const n of nodes) places.set(n.code, n);
  } catch { /* defaults; names show as codes */ }
  route();
}

session.onEnded = (messageKey) => showLogin(messageKey);
window.addEventListener("hashchange", route);
document.documentElement.lang = lang();
document.title = t("app.title");
start();
