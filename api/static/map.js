// @ts-check
/**
 * 电子地图 (offline): the cameras of the user's subtree at their WGS-84 positions with their field-of-view wedges
 * (heading, horizontal field of view, useful range), and the key public areas (重点公共区域), covered or not,
 * drawn as SVG on a plain background. No tiles, no fonts, nothing fetched from outside the hub.
 */
import { api } from "./api.js";
import { h, mount, s } from "./dom.js";
import { t } from "./i18n.js";

const M_PER_DEG_LAT = 110540;

/**
 * The wedge of a camera as [lon, lat] points (a flat-earth approximation, fine at a few hundred metres).
 * @param {number} lon @param {number} lat @param {number} heading @param {number} fov @param {number} range
 * @returns {[number, number][]}
 */
export function wedge(lon, lat, heading, fov, range) {
  const mPerDegLon = 111320 * Math.cos((lat * Math.PI) / 180);
  /** @type {[number, number][]} */
  const pts = [[lon, lat]];
  const steps = Math.max(2, Math.ceil(fov / 5));
  for (let i = 0; i <= steps; i++) {
    const b = ((heading - fov / 2 + (fov * i) / steps) * Math.PI) / 180;
    pts.push([lon + (range * Math.sin(b)) / mPerDegLon, lat + (range * Math.cos(b)) / M_PER_DEG_LAT]);
  }
  return pts;
}

/** @param {HTMLElement} container */
export function renderMap(container) {
  const box = h("div", { class: "map", id: "map" }, t("common.loading"));
  mount(container, h("h1", null, t("map.title")), h("p", { class: "muted small" }, t("map.note")),
    h("p", { class: "legend-row small" }, h("span", { class: "legend cam" }, t("map.legendCamera")),
      h("span", { class: "legend covered" }, t("map.legendCovered")),
      h("span", { class: "legend uncovered" }, t("map.legendUncovered"))), box);

  (async () => {
    const cams = await api("/api/cameras");
    /** @type {any[]} */
    let points = [];
    try { points = (await api("/api/ui/availability?days=7")).key_points; } catch { /* cameras only */ }
    const placed = cams.filter((/** @type {any} */ c) => c.longitude !== null && c.latitude !== null);
    /** @type {[number, number][]} */
    const all = [];
    for (const c of placed) {
      all.push([c.longitude, c.latitude]);
      if (c.heading_deg !== null && c.fov_deg && c.range_m) all.push(...wedge(c.longitude, c.latitude, c.heading_deg,
        c.fov_deg, c.range_m));
    }
    for (const p of points) all.push([p.longitude, p.latitude]);
    if (!all.length) { mount(box, h("p", { class: "muted" }, t("map.noGeo"))); return; }
    const lons = all.map((p) => p[0]), lats = all.map((p) => p[1]);
    const midLat = (Math.min(...lats) + Math.max(...lats)) / 2;
    const kx = 111320 * Math.cos((midLat * Math.PI) / 180), ky = M_PER_DEG_LAT;  // metres per degree
    const x0 = Math.min(...lons), y1 = Math.max(...lats);
    const W = Math.max(50, (Math.max(...lons) - x0) * kx), H = Math.max(50, (y1 - Math.min(...lats)) * ky);
    const pad = Math.max(W, H) * 0.08;
    /** @param {[number, number]} p @returns {string} */
    const xy = (p) => `${((p[0] - x0) * kx).toFixed(1)},${((y1 - p[1]) * ky).toFixed(1)}`;
    const r = Math.max(W, H) / 120;
    const svg = s("svg", { viewBox: `${-pad} ${-pad} ${W + 2 * pad} ${H + 2 * pad}`, class: "map-svg" },
      s("rect", { x: -pad, y: -pad, width: W + 2 * pad, height: H + 2 * pad, class: "ground" }),
      placed.map((/** @type {any} */ c) => s("g", { class: "camera " + (c.enabled ? c.state : "disabled"),
        dataset: { id: c.id } },
        c.heading_deg !== null && c.fov_deg && c.range_m
          ? s("polygon", { class: "fov", points: wedge(c.longitude, c.latitude, c.heading_deg, c.fov_deg, c.range_m)
            .map(xy).join(" ") }) : null,
        s("circle", { cx: xy([c.longitude, c.latitude]).split(",")[0], cy: xy([c.longitude, c.latitude]).split(",")[1],
          r, class: "cam-dot" }),
        s("title", null, `${c.name} ${c.id}`),
        s("text", { x: Number(xy([c.longitude, c.latitude]).split(",")[0]) + r * 1.5,
          y: xy([c.longitude, c.latitude]).split(",")[1], "font-size": r * 2.4 }, c.name))),
      points.map((p) => {
        const [cx, cy] = xy([p.longitude, p.latitude]).split(",");
        return s("g", { class: "keypoint " + (p.covered ? "covered" : "uncovered"), dataset: { id: p.id } },
          s("rect", { x: Number(cx) - r, y: Number(cy) - r, width: 2 * r, height: 2 * r, transform:
            `rotate(45 ${cx} ${cy})` }),
          s("title", null, p.name),
          s("text", { x: Number(cx) + r * 1.5, y: Number(cy) + r * 3, "font-size": r * 2.2 }, p.name));
      }));
    mount(box, svg);
  })().catch((e) => mount(box, h("p", { class: "error" }, t("common.error", { detail: String(e) }))));
}
