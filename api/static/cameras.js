// @ts-check
/**
 * 设备: the cameras of the user's subtree as a tree county → township → village, each with its state (online /
 * offline, from the ingest worker, refreshed every 5 s while the page is open), its 在线率 over 7 days and its
 * 一机一档 completeness; the latest snapshot thumbnail for roles that view snapshots (with the session's reason).
 * Technicians (cameras:write) also get the onboarding form (probe → fill catalog fields → add, with the record's
 * completeness shown as it is filled), edit, disable/enable and remove, and the YAML / GB/T 28181 export
 * (cameras:export). Everything goes through the camera API the CLI uses; the server validates.
 */
import { api, ApiError, may, reason, withReason } from "./api.js";
import { describe, fmtPct, h, mount, select, toast } from "./dom.js";
import { t } from "./i18n.js";
import { ensureReason, places } from "./widgets.js";

/** @typedef {{id: string, name: string, jurisdiction_code: string, state: string, enabled: boolean,
 *   stream_url: string, longitude: number | null, latitude: number | null, heading_deg: number | null,
 *   fov_deg: number | null, range_m: number | null, rules: Record<string, any>[]}} CameraRow */

const REQUIRED = ["name", "manufacturer", "model", "owner", "jurisdiction", "address", "longitude", "latitude",
  "ptz_type", "position_type", "room_type", "use_type", "direction", "resolution", "heading_deg", "fov_deg",
  "range_m"];
const INT_FIELDS = ["ptz_type", "position_type", "room_type", "use_type", "direction"];
const FLOAT_FIELDS = ["heading_deg", "fov_deg", "range_m"];
const TEXT_FIELDS = ["name", "manufacturer", "model", "owner", "address", "resolution"];

/** @param {HTMLElement} container */
export function renderCameras(container) {
  /** @type {CameraRow[]} */
  let cameras = [];
  /** @type {Record<string, {online_rate: number | null}>} */
  let rates = {};
  /** @type {Record<string, {complete: boolean, missing: string[]}>} */
  let records = {};
  /** @type {Record<string, string>} */
  const thumbs = {};
  const writer = may("cameras:write");
  const tree = h("div", { class: "tree", id: "camera-tree" }, t("common.loading"));
  const summary = h("div", { class: "stats" });
  const formSlot = h("div", { class: "form-slot" });
  const file = /** @type {HTMLInputElement} */ (h("input", { type: "file", accept: ".yaml,.yml", hidden: true,
    id: "import-file", onchange: () => importFile() }));
  const tools = h("div", { class: "toolbar" }, summary,
    writer ? h("button", { type: "button", class: "primary", id: "add-camera",
      onclick: () => openForm(null) }, t("cams.add")) : null,
    writer ? h("button", { type: "button", class: "secondary", id: "import-cameras", onclick: () => file.click() },
      t("cams.import")) : null, writer ? file : null,
    may("cameras:export") ? h("button", { type: "button", class: "secondary", onclick: () => download("yaml") },
      t("cams.export")) : null,
    may("cameras:export") ? h("button", { type: "button", class: "secondary", onclick: () => download("gb28181") },
      t("cams.exportXml")) : null);
  mount(container, h("h1", null, t("cams.title")), tools, formSlot, tree);

  /** @param {string} format */
  async function download(format) {
    if (!(await ensureReason())) return;
    window.open(withReason(`/api/cameras/export?format=${format}`), "_blank", "noopener");
  }

  async function importFile() {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    try {
      const r = await api("/api/ui/cameras/import", { method: "POST", body: { yaml: await chosen.text(),
        name: /^[\w\- ][\w.\- ]*\.ya?ml$/u.test(chosen.name) ? chosen.name : "import.yaml" } });
      toast(t("cams.imported", { a: r.added.length, u: r.updated.length, n: r.unchanged.length }));
    } catch (e) {
      toast(t("form.failed", { detail: e instanceof ApiError ? describe(e.detail) : String(e) }), true);
    }
    file.value = "";
    await refresh();
    loadExtras();
  }

  /** @param {CameraRow} cam */
  function stateOf(cam) { return cam.enabled ? cam.state : "disabled"; }

  /** @param {CameraRow} cam */
  function row(cam) {
    const state = stateOf(cam);
    const rec = records[cam.id];
    return h("li", { class: "camera", dataset: { id: cam.id, state } },
      thumbs[cam.id] ? h("img", { class: "mini", alt: t("cams.thumbnail"), loading: "lazy", src: thumbs[cam.id] }) : null,
      h("span", { class: "dot " + state, title: t("cams." + state) }),
      h("span", { class: "cam-name" }, cam.name),
      h("span", { class: "muted small mono" }, cam.id),
      h("span", { class: "state", "data-testid": "state" }, t("cams." + state)),
      h("span", { class: "rate", title: t("cams.rate7") }, `${t("cams.rate7")} ${fmtPct(rates[cam.id]?.online_rate)}`),
      rec ? h("span", { class: "tag" + (rec.complete ? " on" : " warn"), title: rec.missing.join(", ") },
        rec.complete ? t("cams.complete") : t("cams.missing", { n: rec.missing.length })) : null,
      writer ? h("span", { class: "row-actions" },
        h("button", { type: "button", class: "link", onclick: () => openForm(cam.id) }, t("cams.edit")),
        h("button", { type: "button", class: "link", onclick: () => patch(cam.id, { enabled: !cam.enabled }) },
          cam.enabled ? t("cams.disable") : t("cams.enable")),
        h("button", { type: "button", class: "link danger", onclick: () => remove(cam) }, t("cams.remove"))) : null);
  }

  function renderTree() {
    const online = cameras.filter((c) => c.enabled && c.state === "online").length;
    summary.textContent = t("cams.total", { n: cameras.length, on: online });
    /** @type {Map<string, CameraRow[]>} */
    const byNode = new Map();
    for (const cam of cameras) {
      const list = byNode.get(cam.jurisdiction_code) || [];
      list.push(cam); byNode.set(cam.jurisdiction_code, list);
    }
    /** @param {string} code @returns {CameraRow[]} every camera at or under the node */
    const under = (code) => cameras.filter((c) => c.jurisdiction_code.startsWith(code));
    /** @param {string | null} parent */
    const children = (parent) => [...places.values()].filter((p) => p.parent_code === parent)
      .sort((a, b) => a.code.localeCompare(b.code));
    /** @param {{code: string, name: string, level: string, synthetic: boolean}} node @returns {HTMLElement | null} */
    const branch = (node) => {
      const all = under(node.code);
      if (!all.length && node.level !== "county") return null;
      const on = all.filter((c) => c.enabled && c.state === "online").length;
      return h("details", { open: true, class: "node", dataset: { code: node.code } },
        h("summary", null, h("strong", null, node.name), " ", h("span", { class: "muted small" }, node.code),
          node.synthetic ? h("span", { class: "muted small" }, t("common.synthetic")) : null, " ",
          h("span", { class: "count" }, `${on}/${all.length}`)),
        (byNode.get(node.code) || []).length ? h("ul", { class: "cams" }, (byNode.get(node.code) || []).map(row)) : null,
        children(node.code).map(branch));
    };
    const roots = children(null);
    const known = new Set(places.keys());
    const orphans = cameras.filter((c) => !known.has(c.jurisdiction_code));
    mount(tree, roots.map(branch), orphans.length ? h("ul", { class: "cams" }, orphans.map(row)) : null,
      !cameras.length ? h("p", { class: "muted" }, t("cams.noCameras")) : null);
  }

  async function refresh() {
    try { cameras = await api("/api/cameras"); } catch { return; }
    renderTree();
  }

  async function loadExtras() {
    try {
      const report = await api("/api/cameras/completeness");
      records = Object.fromEntries(report.cameras.map((/** @type {any} */ c) => [c.camera_id, c]));
      summary.dataset.completeness = String(report.rate);
    } catch { /* shown without */ }
    renderTree();
    try {
      const av = await api("/api/ui/availability?days=7");
      rates = Object.fromEntries(av.cameras.map((/** @type {any} */ c) => [c.id, c]));
    } catch { /* shown without */ }
    renderTree();
    if (may("snapshots:read") && reason()) {
      await Promise.all(cameras.map(async (cam) => {
        try {
          const page = await api(`/api/events?camera_id=${cam.id}&limit=10`);
          const withSnap = page.items.find((/** @type {any} */ e) => e.snapshot);
          if (withSnap) thumbs[cam.id] = withReason(`/snapshots/${withSnap.snapshot.ref}`);
        } catch { /* none */ }
      }));
      renderTree();
    }
  }

  /** @param {string} id @param {Record<string, unknown>} body */
  async function patch(id, body) {
    try {
      await api(`/api/cameras/${id}`, { method: "PATCH", body });
      toast(t("form.saved"));
    } catch (e) {
      toast(t("form.failed", { detail: e instanceof ApiError ? describe(e.detail) : String(e) }), true);
    }
    await refresh();
  }

  /** @param {CameraRow} cam */
  async function remove(cam) {
    if (!confirm(t("cams.confirmRemove", { name: cam.name, id: cam.id }))) return;
    try { await api(`/api/cameras/${cam.id}`, { method: "DELETE" }); } catch (e) {
      toast(t("form.failed", { detail: e instanceof ApiError ? describe(e.detail) : String(e) }), true);
    }
    await refresh();
  }

  /** @param {string | null} id the camera to edit, or null to add one */
  async function openForm(id) {
    /** @type {Record<string, any>} */
    let current = {};
    if (id) {
      try { current = await api(`/api/cameras/${id}`); } catch { return; }
    }
    mount(formSlot, cameraForm(current, id, async () => { formSlot.replaceChildren(); await refresh();
      loadExtras(); }, () => formSlot.replaceChildren()));
    formSlot.querySelector("input")?.focus();
  }

  refresh().then(loadExtras);
  const timer = setInterval(refresh, 5000);
  const onReason = () => loadExtras();
  document.addEventListener("sharpeyes:reason", onReason);
  return () => { clearInterval(timer); document.removeEventListener("sharpeyes:reason", onReason); };
}

/**
 * The onboarding / edit form.
 * @param {Record<string, any>} current the camera's record (empty: a new camera)
 * @param {string | null} id
 * @param {() => void} onSaved @param {() => void} onCancel
 */
function cameraForm(current, id, onSaved, onCancel) {
  /** @type {Record<string, HTMLInputElement | HTMLSelectElement>} */
  const inputs = {};
  const meter = h("span", { class: "meter", "data-testid": "filled" });
  const message = h("p", { class: "error", role: "alert" });
  const probeState = h("span", { class: "muted small" });

  /** @param {string} name @param {string} label @param {Record<string, any>} [attrs] */
  const input = (name, label, attrs = {}) => {
    const el = /** @type {HTMLInputElement} */ (h("input", { name, oninput: update, ...attrs }));
    const value = name === "longitude" || name === "latitude" ? current.position?.[name] : current[name];
    if (value !== undefined && value !== null) el.value = String(value);
    inputs[name] = el;
    return h("label", null, label, el);
  };
  /** @param {string} name @param {string} label @param {[string, string][]} options */
  const choice = (name, label, options) => {
    const value = current[name] === undefined || current[name] === null ? "" : String(current[name]);
    const el = /** @type {HTMLSelectElement} */ (select([["", t("form.none")], ...options], value,
      { name, onchange: update }));
    inputs[name] = el;
    return h("label", null, label, el);
  };
  /** @param {string} prefix @param {number} n @returns {[string, string][]} */
  const codes = (prefix, n) => Array.from({ length: n }, (_, i) => [String(i + 1), t(`${prefix}.${i + 1}`)]);
  const nodes = [...places.values()].filter((p) => p.in_scope && p.level !== "county")
    .map((p) => /** @type {[string, string]} */ ([p.code, `${p.name} ${p.code}`]));

  function update() {
    const filled = REQUIRED.filter((f) => inputs[f] && inputs[f].value.trim() !== "").length;
    meter.textContent = t("form.filled", { n: filled, total: REQUIRED.length });
    meter.classList.toggle("full", filled === REQUIRED.length);
  }

  const found = h("div", { class: "chips", "data-testid": "discovered" });
  const target = /** @type {HTMLInputElement} */ (h("input", { name: "discover_target",
    placeholder: "192.168.1.64:3702" }));

  async function discoverDevices() {
    const [host, port] = target.value.trim().split(/:(?=\d+$)/);
    mount(found, h("span", { class: "muted small" }, t("form.discovering")));
    try {
      /** @type {{xaddrs: string[], scopes: string[], source: string}[]} */
      const devices = await api("/api/ui/cameras/discover", { method: "POST",
        body: host ? { host, port: Number(port || 3702) } : {} });
      mount(found, h("span", { class: "muted small" }, t("form.found", { n: devices.length })),
        devices.map((d) => {
          const url = new URL(d.xaddrs[0] || `http://${d.source}/`);
          const name = (d.scopes.find((x) => x.includes("/name/")) || "").split("/name/")[1] || url.hostname;
          return h("button", { type: "button", class: "chip", "data-xaddr": url.href, onclick: () => {
            inputs.onvif_host.value = url.hostname;
            inputs.onvif_port.value = url.port || "80";
            if (!inputs.name.value) inputs.name.value = decodeURIComponent(name);
            update();
          } }, `${decodeURIComponent(name)} · ${url.host}`);
        }));
    } catch (e) {
      mount(found, h("span", { class: "error" }, t("form.failed", { detail: e instanceof ApiError ? describe(e.detail)
        : String(e) })));
    }
  }

  async function probe() {
    const target = { host: inputs.onvif_host.value.trim(), port: Number(inputs.onvif_port.value || 80),
      username: inputs.username.value, password: inputs.password.value };
    probeState.textContent = t("form.probing");
    try {
      const r = await api("/api/cameras/probe", { method: "POST", body: target });
      const profile = r.profiles.find((/** @type {any} */ p) => p.token === r.selected_profile) || {};
      /** @type {Record<string, string>} */
      const found = { manufacturer: r.device.manufacturer, model: r.device.model, stream: profile.stream_uri || "",
        resolution: profile.width && profile.height ? `${profile.width}x${profile.height}` : "" };
      for (const [k, v] of Object.entries(found)) if (v && inputs[k] && !inputs[k].value) inputs[k].value = v;
      probeState.textContent = t("form.probed", { m: `${r.device.manufacturer} ${r.device.model}` });
      update();
    } catch (e) {
      probeState.textContent = t("form.failed", { detail: e instanceof ApiError ? describe(e.detail) : String(e) });
    }
  }

  async function save(/** @type {Event} */ e) {
    e.preventDefault();
    /** @type {Record<string, any>} */
    const body = {};
    for (const f of TEXT_FIELDS) { const v = inputs[f].value.trim(); if (v || id) body[f] = v || null; }
    for (const f of INT_FIELDS) { const v = inputs[f].value; if (v || id) body[f] = v ? Number(v) : null; }
    for (const f of FLOAT_FIELDS) { const v = inputs[f].value.trim(); if (v || id) body[f] = v ? Number(v) : null; }
    body.jurisdiction = inputs.jurisdiction.value;
    const lon = inputs.longitude.value.trim(), lat = inputs.latitude.value.trim();
    if (lon && lat) body.position = { longitude: Number(lon), latitude: Number(lat) };
    else if (id) body.position = null;
    const stream = inputs.stream.value.trim();
    if (stream) body.stream = stream;
    const host = inputs.onvif_host.value.trim();
    if (host) body.onvif = { host, port: Number(inputs.onvif_port.value || 80) };
    if (inputs.username.value) body.username = inputs.username.value;
    if (inputs.password.value) body.password = inputs.password.value;
    if (body.name === null) delete body.name;
    try {
      if (id) {
        await api(`/api/cameras/${id}`, { method: "PATCH", body });
        toast(t("form.saved"));
      } else {
        const newId = inputs.id.value.trim();
        if (newId) body.id = newId;
        body.probe = false;
        const made = await api("/api/cameras", { method: "POST", body });
        toast(t("form.added", { id: made.id }));
      }
      onSaved();
    } catch (err) {
      message.textContent = t("form.failed", { detail: err instanceof ApiError ? describe(err.detail) : String(err) });
    }
  }

  const form = h("form", { class: "card camera-form", id: "camera-form", onsubmit: save },
    h("h2", null, id ? t("form.editTitle", { id }) : t("form.addTitle")),
    h("fieldset", null, h("legend", null, t("form.section.onvif")),
      h("label", null, t("form.discoverTarget"), target),
      h("button", { type: "button", class: "secondary", id: "discover", onclick: discoverDevices }, t("form.discover")),
      found, h("span", { class: "break" }),
      input("onvif_host", t("form.host"), { value: current.onvif?.host || "" }),
      input("onvif_port", t("form.port"), { type: "number", min: 1, max: 65535, value: current.onvif?.port || 80 }),
      input("username", t("form.devUser"), { autocomplete: "off" }),
      input("password", t("form.devPass"), { type: "password", autocomplete: "new-password" }),
      h("button", { type: "button", class: "secondary", id: "probe", onclick: probe }, t("form.probe")), probeState),
    h("fieldset", null, h("legend", null, t("form.section.basic")),
      id ? null : input("id", t("form.id"), { pattern: "\\d{20}" }),
      input("name", t("form.name"), { required: true, maxlength: 200 }),
      choice("jurisdiction", t("form.jurisdiction"), nodes),
      input("stream", t("form.stream"), { placeholder: "rtsp://", value: current.stream || "" })),
    h("fieldset", null, h("legend", null, t("form.section.catalog")),
      input("manufacturer", t("form.manufacturer")), input("model", t("form.model")),
      input("owner", t("form.owner")), input("address", t("form.address")),
      choice("ptz_type", t("form.ptz"), codes("form.ptz", 4)),
      choice("position_type", t("form.positionType"), codes("pos", 10)),
      choice("room_type", t("form.roomType"), codes("form.room", 2)),
      choice("use_type", t("form.useType"), codes("form.use", 3)),
      choice("direction", t("form.direction"), codes("dir", 8)),
      input("resolution", t("form.resolution"), { pattern: "[1-9]\\d{1,4}x[1-9]\\d{1,4}" })),
    h("fieldset", null, h("legend", null, t("form.section.coverage")),
      input("longitude", t("form.longitude"), { type: "number", step: "any", min: -180, max: 180 }),
      input("latitude", t("form.latitude"), { type: "number", step: "any", min: -90, max: 90 }),
      input("heading_deg", t("form.heading"), { type: "number", step: "any", min: 0, max: 359.999 }),
      input("fov_deg", t("form.fov"), { type: "number", step: "any", min: 1, max: 360 }),
      input("range_m", t("form.range"), { type: "number", step: "any", min: 1 })),
    h("div", { class: "buttons" }, meter,
      h("button", { type: "button", class: "secondary", onclick: onCancel }, t("dialog.cancel")),
      h("button", { type: "submit", class: "primary", id: "save-camera" }, t("form.save"))),
    message);
  inputs.jurisdiction.value = current.jurisdiction || (nodes.find((n) => n[0].length >= 12) || nodes[0] || [""])[0];
  update();
  return form;
}
