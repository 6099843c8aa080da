// @ts-check
/**
 * 运行状态 (technicians, auditors, admins: ops:read): this node's health (GET /api/health: Redis, storage, its
 * supervised workers) and who holds what across the worker nodes (GET /api/workers: each node's capacity, labels,
 * detector frames/s measured at start and served now, the cameras it holds — by name where the user sees them —
 * the cameras nobody holds, and which node runs the singletons). Refreshed every 5 s while shown.
 */
import { api, ApiError } from "./api.js";
import { describe, fmtTime, h, mount } from "./dom.js";
import { t } from "./i18n.js";

/** @typedef {{node_id: string, capacity: number, labels: string[], detect_fps: number, detected_fps: number,
 *   frames_detected: number, started_at: number, heartbeat_expires_in_s: number, cameras_held: number,
 *   cameras: string[], singletons: boolean}} WorkerNode */
/** @typedef {{nodes: WorkerNode[], cameras_enabled: number, cameras_here: number, cameras_unheld: string[],
 *   singletons: {node_id: string, token: number} | null}} Workers */
/** @typedef {{name: string, alive: boolean, healthy: boolean, heartbeat_age_s: number, restarts: number,
 *   last_error: string | null}} WorkerStatus */
/** @typedef {{status: string, redis: boolean, workers: WorkerStatus[]}} Health */

/** @param {HTMLElement} container */
export function renderSystem(container) {
  /** @type {Map<string, string>} */
  const names = new Map();
  const healthBox = h("section", { class: "card", id: "node-health" });
  const nodesBox = h("section", { class: "card", id: "worker-nodes" });
  let stopped = false;
  /** @type {number | undefined} */
  let timer;

  /** @param {string} id */
  const camera = (id) => h("span", { class: "tag", title: id }, names.get(id) || id);

  /** @param {Health} health */
  function showHealth(health) {
    const bad = health.workers.filter((w) => !w.healthy);
    mount(healthBox, h("h2", null, t("system.thisNode")),
      h("p", null, h("span", { class: `tag ${health.status === "ok" ? "on" : "warn"}`, "data-testid": "health" },
        health.status === "ok" ? t("system.ok") : t("system.degraded")), " ",
        t("system.redis"), " ", health.redis ? t("system.ok") : t("system.down"), " · ",
        t("system.workers", { n: health.workers.length, bad: bad.length })),
      bad.length ? h("ul", { class: "error" }, bad.map((w) => h("li", null, `${w.name}: ${w.last_error || ""}`)))
        : null);
  }

  /** @param {Workers} view */
  function showWorkers(view) {
    const cols = ["system.node", "system.labels", "system.capacity", "system.held", "system.detectFps",
      "system.detectedFps", "system.started", "system.heartbeat", "system.singletons"];
    mount(nodesBox, h("h2", null, t("system.nodes")),
      h("p", { class: "muted" }, t("system.summary", { nodes: view.nodes.length, cameras: view.cameras_enabled }),
        " ", view.singletons ? t("system.singletonHolder", { node: view.singletons.node_id,
          token: view.singletons.token }) : t("system.noSingletons")),
      view.cameras_here ? h("p", null, t("system.here", { n: view.cameras_here })) : null,
      view.nodes.length === 0 ? h("p", { class: "notice" }, t("system.noNodes")) : h("div", { class: "table-wrap" },
        h("table", { class: "grid", id: "nodes" },
          h("thead", null, h("tr", null, cols.map((c) => h("th", null, t(c))))),
          h("tbody", null, view.nodes.flatMap((n) => [
            h("tr", { "data-node": n.node_id },
              h("td", { class: "mono" }, n.node_id), h("td", null, n.labels.join(", ") || "—"),
              h("td", null, String(n.capacity)), h("td", null, String(n.cameras_held)),
              h("td", null, n.detect_fps ? n.detect_fps.toFixed(1) : "—"), h("td", null, n.detected_fps.toFixed(1)),
              h("td", null, n.started_at ? fmtTime(new Date(n.started_at * 1000).toISOString()) : "—"),
              h("td", null, t("system.expires", { s: n.heartbeat_expires_in_s.toFixed(0) })),
              h("td", null, n.singletons ? "✓" : "")),
            h("tr", { class: "sub" }, h("td", { colspan: String(cols.length) }, n.cameras.map(camera)))])))),
      view.cameras_unheld.length ? h("p", { class: "error", id: "unheld" },
        t("system.unheld", { n: view.cameras_unheld.length }), " ", view.cameras_unheld.map(camera)) : null);
  }

  async function refresh() {
    try {
      const [health, view] = await Promise.all([api("/api/health"), api("/api/workers")]);
      if (stopped) return;
      showHealth(health);
      showWorkers(view);
    } catch (e) {
      if (stopped) return;
      mount(nodesBox, h("p", { class: "error" }, t("common.error", { detail: e instanceof ApiError ? describe(e.detail)
        : String(e) })));
    }
    if (!stopped) timer = window.setTimeout(refresh, 5000);
  }

  mount(container, h("h1", null, t("system.title")), healthBox, nodesBox);
  api("/api/cameras").then((/** @type {{id: string, name: string}[]} */ cams) => {
    for (const c of cams) names.set(c.id, c.name);
  }).catch(() => { /* ids instead of names */ }).finally(refresh);
  return () => { stopped = true; window.clearTimeout(timer); };
}
