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
    const W = Math.max(100, (Math.max(...lons) - x0) * kx), H = Math.max(100, (y1 - Math.min(...lats)) * ky);
    const pad = Math.max(W, H) * 0.1;
    const vb = { x: -pad, y: -pad, w: W + pad * 2 + W * 0.25, h: H + pad * 2 };  // room on the right for names
    const font = vb.w / 75, r = font / 2.4;
    /** @param {[number, number]} p @returns {[number, number]} metres east and south of the top-left corner */
    const xy = (p) => [(p[0] - x0) * kx, (y1 - p[1]) * ky];
    /** @param {[number, number][]} pts */
    const poly = (pts) => pts.map((p) => xy(p).map((v) => v.toFixed(1)).join(",")).join(" ");
    const step = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000].find((m) => vb.w / m <= 12) || 10000;
    const gridLines = [];
    for (let x = Math.ceil(vb.x / step) * step; x < vb.x + vb.w; x += step) {
      gridLines.push(s("line", { x1: x, y1: vb.y, x2: x, y2: vb.y + vb.h }));
    }
    for (let y = Math.ceil(vb.y / step) * step; y < vb.y + vb.h; y += step) {
      gridLines.push(s("line", { x1: vb.x, y1: y, x2: vb.x + vb.w, y2: y }));
    }
    const sx = vb.x + font, sy = vb.y + vb.h - font;
    const svg = s("svg", { viewBox: `${vb.x} ${vb.y} ${vb.w} ${vb.h}`, class: "map-svg", "data-testid": "map" },
      s("rect", { x: vb.x, y: vb.y, width: vb.w, height: vb.h, class: "ground" }),
      s("g", { class: "grid" }, gridLines),
      s("g", { class: "scale" }, s("line", { x1: sx, y1: sy, x2: sx + step, y2: sy }),
        s("text", { x: sx, y: sy - font * 0.5, "font-size": font }, t("map.scale", { m: step }))),
      s("g", { class: "north" }, s("path", { d: `M ${vb.x + vb.w - font * 2} ${vb.y + font * 3} l ${font * 0.6} ${font * 1.6}
        l ${-font * 1.2} 0 z` }), s("text", { x: vb.x + vb.w - font * 2.35, y: vb.y + font * 2.6, "font-size": font },
        "N")),
      placed.map((/** @type {any} */ c) => {
        const [cx, cy] = xy([c.longitude, c.latitude]);
        return s("g", { class: "camera " + (c.enabled ? c.state : "disabled"), dataset: { id: c.id } },
          c.heading_deg !== null && c.fov_deg && c.range_m
            ? s("polygon", { class: "fov", points: poly(wedge(c.longitude, c.latitude, c.heading_deg, c.fov_deg,
              c.range_m)) }) : null,
          s("circle", { cx, cy, r, class: "cam-dot" }),
          s("title", null, `${c.name} ${c.id}`),
          s("text", { x: cx + r * 1.8, y: cy - r, "font-size": font }, c.name));
      }),
      points.map((p) => {
        const [cx, cy] = xy([p.longitude, p.latitude]);
        return s("g", { class: "keypoint " + (p.covered ? "covered" : "uncovered"), dataset: { id: p.id } },
          s("rect", { x: cx - r * 0.8, y: cy - r * 0.8, width: 1.6 * r, height: 1.6 * r,
            transform: `rotate(45 ${cx} ${cy})` }),
          s("title", null, p.name),
          s("text", { x: cx + r * 1.8, y: cy + font * 1.2, "font-size": font * 0.9 }, p.name));
      }));
    mount(box, svg);
  })().catch((e) => mount(box, h("p", { class: "error" }, t("common.error", { detail: String(e) }))));
}
