// The victim's page: pick photos and videos, fingerprint them here, send only the fingerprints,
// and manage the case later. Media never leave the device: files are read by fingerprint.js into
// memory and only the JSON records it returns are posted. The case secret lives in this page's
// memory only (never in storage), so closing the tab forgets it.

import { LANGUAGES, TEXT, preferredLanguage, t } from "./i18n.js";
import { UnreadableFile, fingerprintFile } from "./fingerprint.js";

// The service takes at most this many fingerprints per request (settings.max_batch is 1000).
const BATCH = 500;

const $ = (id) => document.getElementById(id);

const state = {
  lang: preferredLanguage(),
  files: [], // {key, file, name, status: queued|working|ready|failed|sent, progress, record, reason}
  nextKey: 1,
  pumping: false,
  mode: "new", // "new": sending opens a case; "add": sending adds to the open case
  session: null, // {number, secret}
  view: null, // the last case view from the service
  names: new Map(), // fingerprint id -> file name, for files added from this page (memory only)
  resources: null,
  country: null,
};

const tr = (key, values) => t(state.lang, key, values);

// --- language -----------------------------------------------------------------------------------

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = tr(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", tr(el.dataset.i18nLabel));
    el.setAttribute("lang", state.lang === "es" ? "en" : "es");
  }
  $("file-list").setAttribute("aria-label", tr("pick.title"));
  $("send").textContent = tr(state.mode === "add" ? "pick.add" : "pick.send");
  renderFiles();
  renderCase();
  renderResources();
}

$("lang").addEventListener("click", () => {
  state.lang = LANGUAGES.find((l) => l !== state.lang);
  applyLanguage();
});

// --- sections -----------------------------------------------------------------------------------

function show(id, { focus = true } = {}) {
  for (const section of ["intro", "pick", "created", "manage"]) $(section).hidden = section !== id;
  if (focus) $(`${id}-title`).focus();
}

$("start").addEventListener("click", () => {
  state.mode = "new";
  resetFiles();
  show("pick");
});
$("have-case").addEventListener("click", () => {
  show("manage");
  renderCase();
  $("number").focus();
});
$("help-link").addEventListener("click", (event) => {
  event.preventDefault();
  $("help-title").focus();
  $("help").scrollIntoView();
});

// --- picking and fingerprinting -----------------------------------------------------------------

function resetFiles() {
  state.files = [];
  $("files").value = "";
  $("send-error").textContent = "";
  $("send").textContent = tr(state.mode === "add" ? "pick.add" : "pick.send");
  renderFiles();
}

$("files").addEventListener("change", () => {
  for (const file of $("files").files) {
    state.files.push({ key: state.nextKey++, file, name: file.name, status: "queued", progress: 0 });
  }
  $("files").value = ""; // the same file may be picked again after a removal
  renderFiles();
  pump();
});

async function pump() {
  if (state.pumping) return;
  state.pumping = true;
  try {
    for (;;) {
      const item = state.files.find((f) => f.status === "queued");
      if (!item) break;
      item.status = "working";
      renderFiles();
      try {
        item.record = await fingerprintFile(item.file, (p) => setProgress(item, p));
        item.status = "ready";
      } catch (error) {
        item.status = "failed";
        item.reason = error instanceof UnreadableFile && error.message === "too-long" ? "pick.tooLong" : "pick.failed";
      }
      item.file = null; // the picture is no longer needed: keep only its fingerprint
      renderFiles();
      announce();
    }
  } finally {
    state.pumping = false;
  }
}

function setProgress(item, fraction) {
  item.progress = Math.round(fraction * 100);
  const bar = document.querySelector(`[data-key="${item.key}"] progress`);
  if (bar) bar.value = item.progress;
}

function announce() {
  const total = state.files.length;
  const done = state.files.filter((f) => f.status === "ready").length;
  const failed = state.files.filter((f) => f.status === "failed").length;
  const working = state.files.some((f) => f.status === "queued" || f.status === "working");
  $("pick-status").textContent = total
    ? `${working ? tr("pick.working") + " " : ""}${tr("pick.summary", { done, total, failed })}`
    : tr("pick.empty");
}

function renderFiles() {
  const list = $("file-list");
  list.replaceChildren();
  for (const item of state.files) {
    const li = document.createElement("li");
    li.dataset.key = item.key;
    li.dataset.status = item.status;
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = item.name;
    li.append(name);
    if (item.status === "queued" || item.status === "working") {
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = item.progress;
      bar.setAttribute("aria-label", tr("pick.progress", { name: item.name }));
      li.append(bar);
    } else {
      const note = document.createElement("p");
      note.className = item.status === "failed" ? "failed" : "ready";
      note.textContent = item.status === "failed" ? tr(item.reason) : tr("pick.ready");
      li.append(note);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link";
      remove.textContent = "✕";
      remove.setAttribute("aria-label", tr("pick.remove", { name: item.name }));
      remove.addEventListener("click", () => {
        state.files = state.files.filter((f) => f !== item);
        renderFiles();
        announce();
        $("files").focus();
      });
      li.append(remove);
    }
    list.append(li);
  }
  const ready = state.files.filter((f) => f.status === "ready");
  const busy = state.files.some((f) => f.status === "queued" || f.status === "working");
  $("send").disabled = ready.length === 0 || busy;
  if (!state.files.length) $("pick-status").textContent = tr("pick.empty");
}

// --- the service ----------------------------------------------------------------------------------

class ApiError extends Error {}

async function api(method, path, { body, secret } = {}) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (secret) headers.authorization = `Bearer ${secret}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(tr("error.network"));
  }
  if (response.ok) return response.json();
  const problem = await response.json().catch(() => ({}));
  if (response.status === 401) throw new ApiError(tr("error.auth"));
  if (response.status === 429) throw new ApiError(tr("error.rate"));
  if (response.status === 409) throw new ApiError(tr("error.benign"));
  throw new ApiError(tr("error.server", { detail: problem.detail || problem.title || response.status }));
}

const casePath = (number, tail = "") => `/v1/cases/${encodeURIComponent(number)}${tail}`;

$("send").addEventListener("click", async () => {
  const ready = state.files.filter((f) => f.status === "ready");
  if (!ready.length) {
    $("send-error").textContent = tr("pick.nothing");
    return;
  }
  $("send").disabled = true;
  $("send-error").textContent = "";
  $("pick-status").textContent = tr("pick.sending");
  try {
    let added = 0;
    for (let i = 0; i < ready.length; i += BATCH) {
      const batch = ready.slice(i, i + BATCH);
      const body = { fingerprints: batch.map((f) => f.record) };
      if (!state.session) {
        const opened = await api("POST", "/v1/cases", { body });
        state.session = { number: opened.case_number, secret: opened.secret };
        opened.fingerprint_ids.forEach((id, k) => state.names.set(id, batch[k].name));
        showCreated();
      } else {
        const changed = await api("POST", casePath(state.session.number, "/fingerprints"), {
          body,
          secret: state.session.secret,
        });
        added += changed.changed;
      }
      for (const f of batch) f.status = "sent";
    }
    if (state.mode === "add") {
      state.files = [];
      show("manage");
      await loadCase();
      $("manage-status").textContent = tr("manage.added.done", { count: added });
    }
  } catch (error) {
    $("send-error").textContent = error.message;
    $("send").disabled = false;
    announce();
  }
});

// --- the new case's number and secret, shown once ----------------------------------------------------

function showCreated() {
  $("case-number").textContent = state.session.number;
  $("case-secret").textContent = state.session.secret;
  $("saved").checked = false;
  $("continue").disabled = true;
  $("copy-status").textContent = "";
  show("created");
}

const credentialsText = () =>
  tr("case.file", { number: state.session.number, secret: state.session.secret, url: location.origin + "/" });

$("copy").addEventListener("click", async () => {
  const text = `${state.session.number}\n${state.session.secret}`;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard API needs a secure context; fall back to selecting the secret for the user.
    const range = document.createRange();
    range.selectNodeContents($("credentials"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    document.execCommand("copy");
  }
  $("copy-status").textContent = tr("case.copied");
});

$("download").addEventListener("click", () => {
  const url = URL.createObjectURL(new Blob([credentialsText()], { type: "text/plain" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = `stopspread-${state.session.number}.txt`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
});

$("print").addEventListener("click", () => window.print());
$("saved").addEventListener("change", () => ($("continue").disabled = !$("saved").checked));
$("continue").addEventListener("click", async () => {
  state.files = [];
  show("manage");
  await loadCase();
});

// --- managing a case ---------------------------------------------------------------------------------

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  state.session = { number: $("number").value.trim().toUpperCase(), secret: $("secret").value.trim() };
  $("manage-status").textContent = tr("manage.opening");
  const ok = await loadCase();
  if (!ok) state.session = null;
  else $("secret").value = "";
});

async function loadCase() {
  $("manage-error").textContent = "";
  try {
    state.view = await api("GET", casePath(state.session.number), { secret: state.session.secret });
    $("manage-status").textContent = "";
    renderCase();
    return true;
  } catch (error) {
    state.view = null;
    $("manage-status").textContent = "";
    $("manage-error").textContent = error.message;
    renderCase();
    return false;
  }
}

function renderCase() {
  const view = state.view;
  $("login").hidden = Boolean(view);
  $("case-view").hidden = !view;
  if (!view) return;
  $("count-active").textContent = view.active;
  $("count-blocked").textContent = view.blocked_copies;
  $("count-review").textContent = view.under_review;
  $("count-withdrawn").textContent = view.withdrawn;
  const list = $("fingerprints");
  list.replaceChildren();
  const date = new Intl.DateTimeFormat(state.lang, { dateStyle: "medium" });
  for (const fp of view.fingerprints) {
    const li = document.createElement("li");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = `fp-${fp.id}`;
    box.value = fp.id;
    box.disabled = fp.status !== "active";
    const label = document.createElement("label");
    label.htmlFor = box.id;
    const name = state.names.get(fp.id);
    label.textContent =
      tr("manage.select", {
        id: fp.id,
        kind: tr(`manage.kind.${fp.kind}`),
        date: date.format(new Date(fp.added_at)),
        status: tr(`manage.status.${fp.status}`),
      }) + (name ? ` — ${name}` : "");
    li.append(box, label);
    list.append(li);
  }
}

async function withdraw(ids) {
  const count = ids ? ids.length : state.view.active;
  if (!confirm(ids ? tr("manage.confirmSome", { count }) : tr("manage.confirmAll"))) return;
  $("manage-error").textContent = "";
  try {
    const changed = await api("POST", casePath(state.session.number, "/withdraw"), {
      body: ids ? { fingerprint_ids: ids } : {},
      secret: state.session.secret,
    });
    await loadCase();
    $("manage-status").textContent = tr("manage.withdrawn.done", { count: changed.changed });
  } catch (error) {
    $("manage-error").textContent = error.message;
  }
}

$("withdraw-some").addEventListener("click", () => {
  const ids = [...document.querySelectorAll("#fingerprints input:checked")].map((box) => Number(box.value));
  if (!ids.length) {
    $("manage-error").textContent = tr("manage.noneSelected");
    return;
  }
  withdraw(ids);
});
$("withdraw-all").addEventListener("click", () => withdraw(null));
$("refresh").addEventListener("click", () => loadCase());
$("add-more").addEventListener("click", () => {
  state.mode = "add";
  resetFiles();
  show("pick");
});
$("close-case").addEventListener("click", () => {
  state.session = null;
  state.view = null;
  state.names.clear();
  renderCase();
  $("manage-status").textContent = "";
  $("number").value = "";
  $("number").focus();
});

// --- help resources ------------------------------------------------------------------------------

async function loadResources() {
  try {
    const response = await fetch("/web/resources.json", { credentials: "omit" });
    state.resources = await response.json();
  } catch {
    state.resources = { countries: [] };
  }
  const codes = state.resources.countries.map((c) => c.code);
  const region = (navigator.language || "").split("-")[1]?.toUpperCase();
  state.country = codes.includes(region) ? region : codes.find((c) => c !== "*") || "*";
  renderResources();
}

const localText = (value) => (typeof value === "string" ? value : value?.[state.lang] ?? value?.en ?? "");

function renderResources() {
  if (!state.resources) return;
  const select = $("country");
  select.replaceChildren();
  for (const country of state.resources.countries) {
    const option = document.createElement("option");
    option.value = country.code;
    option.textContent = localText(country.name) || country.code;
    option.selected = country.code === state.country;
    select.append(option);
  }
  const shown = state.resources.countries.filter((c) => c.code === state.country || c.code === "*");
  const list = $("resources");
  list.replaceChildren();
  for (const resource of shown.flatMap((c) => c.resources)) {
    const li = document.createElement("li");
    const title = resource.url ? document.createElement("a") : document.createElement("strong");
    title.textContent = resource.name;
    if (resource.url) {
      title.href = resource.url;
      title.rel = "noopener noreferrer";
      title.target = "_blank";
    }
    li.append(title);
    if (resource.phone) {
      const call = document.createElement("a");
      call.href = `tel:${resource.phone}`;
      call.textContent = ` · ${tr("help.call", { phone: resource.phone })}`;
      li.append(call);
    }
    const about = localText(resource.description);
    if (about) {
      const p = document.createElement("p");
      p.textContent = about;
      li.append(p);
    }
    list.append(li);
  }
}

$("country").addEventListener("change", () => {
  state.country = $("country").value;
  renderResources();
});

// Every text exists in both languages (a test checks this too).
console.assert(Object.keys(TEXT.es).every((k) => k in TEXT.en));
applyLanguage();
loadResources();
document.body.dataset.ready = "true";
