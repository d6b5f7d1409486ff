// The page: build a playlist from searched songs, continue it, like and dislike suggestions,
// similar songs and playlists, the song map and the model's figures. Every text from the API is
// set as text (textContent, text nodes), never parsed as markup.

import * as api from "./api.js";
import { EmbeddingMap } from "./map.js";

const SUGGESTIONS = 20;
const SEARCH_HITS = 10;
const SIMILAR_SONGS = 10;
const SIMILAR_PLAYLISTS = 10;
const MAP_NEIGHBOURS = 10; // marked on the map, of the nearest songs asked for
const MAP_NEIGHBOURS_ASKED = 50;
const MAP_MATCHES = 8;
const STORAGE_KEY = "algorhythms.playlist";

const $ = (id) => document.getElementById(id);

const state = {
  playlist: [], // {uri, name, artist, album}
  dislikes: [], // the same, sent as `dislikes` with every continuation
  results: [],
  modelVersion: undefined, // the version whose figures are shown; null: none could be loaded
  continuing: null, // the AbortController of the continuation in flight
};

// The request in flight of each kind ("search", "similar", ...): a newer one aborts it, so a
// late answer never replaces a newer one.
const inFlight = {};

function latest(kind) {
  inFlight[kind]?.abort();
  const controller = new AbortController();
  inFlight[kind] = controller;
  return controller.signal;
}

// ---- small DOM helpers ----------------------------------------------------------------------

// An element with properties, attributes (`aria-*`, `data-*`), listeners (`onclick`) and
// children; strings become text nodes.
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key.includes("-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function setStatus(node, text, kind = "") {
  node.textContent = text;
  node.classList.toggle("error", kind === "error");
}

function errorText(error) {
  return error instanceof api.ApiError ? error.message : `Something went wrong: ${error.message}`;
}

const label = (t) => (t.artist ? `${t.name || t.uri} by ${t.artist}` : t.name || t.uri);
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const inPlaylist = (uri) => state.playlist.some((t) => t.uri === uri);
const trackOf = ({ uri, name, artist, album }) => ({ uri, name, artist, album });

function trackText(track) {
  const meta = [track.artist, track.album].filter(Boolean).join(" · ");
  return el(
    "div",
    { class: "track-text" },
    el("span", { class: "name" }, track.name || track.uri),
    meta ? el("span", { class: "meta" }, meta) : null,
  );
}

// A list item for a track: its text, then `parts` (reasons, buttons).
function trackItem(track, ...parts) {
  return el("li", { class: "track", "data-uri": track.uri }, trackText(track), ...parts);
}

function button(text, ariaLabel, onclick, extra = {}) {
  return el("button", { type: "button", "aria-label": ariaLabel, onclick, ...extra }, text);
}

function addButton(track) {
  const added = inPlaylist(track.uri);
  return button(added ? "Added" : "Add", `Add ${label(track)} to the playlist`, (event) => {
    addToPlaylist(track);
    event.currentTarget.textContent = "Added";
    event.currentTarget.setAttribute("aria-disabled", "true");
  }, added ? { "aria-disabled": "true" } : {});
}

// ---- the playlist ---------------------------------------------------------------------------

function save() {
  const saved = { title: $("playlist-title").value, playlist: state.playlist, dislikes: state.dislikes };
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(saved));
  } catch {
    // storage may be full or disabled: the page works without it
  }
}

function restore() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
    if (!saved) return;
    $("playlist-title").value = typeof saved.title === "string" ? saved.title : "";
    const tracks = (list) => (Array.isArray(list) ? list.filter((t) => t && typeof t.uri === "string") : []);
    state.playlist = tracks(saved.playlist).map(trackOf);
    state.dislikes = tracks(saved.dislikes).map(trackOf);
  } catch {
    localStorage.removeItem(STORAGE_KEY);
  }
}

function addToPlaylist(track) {
  if (inPlaylist(track.uri)) return false;
  state.playlist.push(trackOf(track));
  state.dislikes = state.dislikes.filter((t) => t.uri !== track.uri);
  renderPlaylist();
  return true;
}

function removeFromPlaylist(index) {
  state.playlist.splice(index, 1);
  renderPlaylist();
  const buttons = $("playlist-tracks").querySelectorAll("button");
  (buttons[index] || buttons[index - 1] || $("playlist-title")).focus();
}

function renderPlaylist() {
  const list = $("playlist-tracks");
  const hadFocus = list.contains(document.activeElement);
  list.replaceChildren(
    ...state.playlist.map((track, i) =>
      trackItem(track,
        el("div", { class: "buttons" },
          button("Remove", `Remove ${label(track)} from the playlist`, () => removeFromPlaylist(i)))),
    ),
  );
  const n = state.playlist.length;
  $("playlist-count").textContent = n ? `${plural(n, "song")}.` : "No songs yet: search and add some.";
  renderDislikes();
  save();
  if (hadFocus && !list.contains(document.activeElement)) $("playlist-title").focus();
}

function renderDislikes() {
  $("dislikes-box").hidden = state.dislikes.length === 0;
  $("dislikes").replaceChildren(
    ...state.dislikes.map((track, i) =>
      trackItem(track,
        el("div", { class: "buttons" },
          button("Undo", `Stop disliking ${label(track)}`, () => {
            state.dislikes.splice(i, 1);
            renderDislikes();
            save();
            $("results-heading").focus();
          }))),
    ),
  );
}

// ---- search ---------------------------------------------------------------------------------

async function search(event) {
  event.preventDefault();
  const q = $("search-input").value.trim();
  const status = $("search-status");
  const list = $("search-results");
  if (!q) return;
  setStatus(status, "Searching…");
  try {
    const data = await api.searchTracks(q, SEARCH_HITS, latest("search"));
    noteVersion(data.version);
    list.replaceChildren(
      ...data.items.map((track) =>
        trackItem(track,
          el("div", { class: "buttons" }, addButton(track),
            button("Similar", `Songs similar to ${label(track)}`, () => openSimilar(track))))),
    );
    setStatus(status, data.items.length ? `${plural(data.items.length, "song")} found.` : `No song matches “${q}”.`);
  } catch (error) {
    if (error.name === "AbortError") return;
    list.replaceChildren();
    setStatus(status, errorText(error), "error");
  }
}

// ---- continuing the playlist ----------------------------------------------------------------

function numberOrNull(input) {
  return input.value === "" || Number.isNaN(input.valueAsNumber) ? null : input.valueAsNumber;
}

function continuationBody() {
  return {
    name: $("playlist-title").value.trim() || null,
    tracks: state.playlist.map((t) => t.uri),
    count: SUGGESTIONS,
    dislikes: state.dislikes.map((t) => t.uri),
    diversity: Number($("diversity").value),
    max_per_artist: numberOrNull($("max-per-artist")),
    explore: Number($("explore").value),
    seed: numberOrNull($("seed")),
  };
}

// Fetches the suggestions again; `focus` = [index, button text] puts the keyboard focus back on
// the same place in the new list, `said` is announced with the outcome.
async function continuePlaylist({ focus = null, said = "" } = {}) {
  state.continuing?.abort();
  const controller = new AbortController();
  state.continuing = controller;
  const status = $("results-status");
  setStatus(status, "Finding songs…");
  $("results-panel").setAttribute("aria-busy", "true");
  try {
    const data = await api.request("/v1/playlists/continue", {
      method: "POST",
      body: continuationBody(),
      signal: controller.signal,
    });
    noteVersion(data.version);
    state.results = data.items;
    renderResults(focus);
    const skipped = data.skipped?.length ? ` ${plural(data.skipped.length, "song")} of the playlist are unknown to this model.` : "";
    setStatus(status, `${said}${plural(data.items.length, "suggestion")} from model version ${data.version}.${skipped}`);
  } catch (error) {
    if (error.name === "AbortError") return;
    setStatus(status, errorText(error), "error");
  } finally {
    if (state.continuing === controller) {
      state.continuing = null;
      $("results-panel").removeAttribute("aria-busy");
    }
  }
}

function reasonsList(item) {
  if (!Array.isArray(item.reasons) || !item.reasons.length) return null;
  return el("ul", { class: "reasons", "aria-label": "Why it is here" },
    ...item.reasons.map((r) => el("li", {}, el("span", { class: "source" }, r.source), " ", r.text)));
}

function renderResults(focus) {
  const list = $("results");
  const hadFocus = list.contains(document.activeElement);
  list.replaceChildren(
    ...state.results.map((item, i) =>
      trackItem(item, reasonsList(item),
        el("div", { class: "buttons" },
          button("Like", `Like ${label(item)}: add it to the playlist`, () => like(i), { class: "like" }),
          button("Dislike", `Dislike ${label(item)}: replace it`, () => dislike(i), { class: "dislike" }),
          button("Similar", `Songs similar to ${label(item)}`, () => openSimilar(item)))),
    ),
  );
  if (focus) {
    const [index, text] = focus;
    const items = list.children;
    const target = items[Math.min(index, items.length - 1)];
    const found = target && [...target.querySelectorAll("button")].find((b) => b.textContent === text);
    (found || $("results-heading")).focus();
  } else if (hadFocus) {
    $("results-heading").focus();
  }
}

function like(index) {
  const item = state.results[index];
  addToPlaylist(item);
  continuePlaylist({ focus: [index, "Like"], said: `Added ${label(item)} to the playlist. ` });
}

function dislike(index) {
  const item = state.results[index];
  if (!state.dislikes.some((t) => t.uri === item.uri)) state.dislikes.push(trackOf(item));
  renderDislikes();
  save();
  continuePlaylist({ focus: [index, "Dislike"], said: `Replaced ${label(item)}. ` });
}

// ---- similar songs and playlists ------------------------------------------------------------

async function openSimilar(track) {
  const panel = $("similar-panel");
  const status = $("similar-status");
  const list = $("similar-tracks");
  panel.hidden = false;
  $("similar-heading").textContent = `Songs similar to ${label(track)}`;
  list.replaceChildren();
  setStatus(status, "Loading…");
  $("similar-heading").focus();
  try {
    const data = await api.similarTracks(track.uri, SIMILAR_SONGS, latest("similar"));
    noteVersion(data.version);
    list.replaceChildren(
      ...data.items.map((item) =>
        trackItem(item, reasonsList(item),
          el("div", { class: "buttons" }, addButton(item),
            button("Similar", `Songs similar to ${label(item)}`, () => openSimilar(item))))),
    );
    setStatus(status, `${plural(data.items.length, "song")}.`);
  } catch (error) {
    if (error.name === "AbortError") return;
    setStatus(status, errorText(error), "error");
  }
}

async function openSimilarPlaylists() {
  const panel = $("playlists-panel");
  const status = $("playlists-status");
  const list = $("similar-playlists");
  panel.hidden = false;
  list.replaceChildren();
  setStatus(status, "Loading…");
  $("playlists-heading").focus();
  const name = $("playlist-title").value.trim();
  try {
    const data = await api.similarPlaylists({
      tracks: state.playlist.map((t) => t.uri),
      ...(name ? { name } : {}),
      count: SIMILAR_PLAYLISTS,
    }, latest("playlists"));
    noteVersion(data.version);
    list.replaceChildren(
      ...data.items.map((p) =>
        el("li", { class: "playlist", "data-pid": p.pid },
          el("details", {},
            el("summary", {},
              el("span", { class: "name" }, p.name || `Playlist ${p.pid}`),
              el("span", { class: "meta" }, ` ${plural(p.size, "song")} · similarity ${p.score.toFixed(2)}`)),
            el("ul", { class: "tracks compact", "aria-label": "Some of its songs" },
              ...p.tracks.map((t) =>
                trackItem(t, el("div", { class: "buttons" }, addButton(t)))))))),
    );
    setStatus(status, data.items.length ? `${plural(data.items.length, "playlist")}.` : "No similar playlist.");
  } catch (error) {
    if (error.name === "AbortError") return;
    setStatus(status, errorText(error), "error");
  }
}

// ---- the map --------------------------------------------------------------------------------

let songMap;

async function loadMap() {
  const status = $("map-status");
  setStatus(status, "Loading the map…");
  try {
    const data = await api.map();
    $("map-body").hidden = data.points.length === 0;
    songMap.setPoints(data.points);
    setStatus(status, `${plural(data.points.length, "song")} on the map of model version ${data.version}.`);
  } catch (error) {
    $("map-body").hidden = true;
    songMap.setPoints([]);
    const text = error.status === 404 ? "This model version has no song map." : errorText(error);
    setStatus(status, text, error.status === 404 ? "" : "error");
  }
}

function fold(text) {
  return (text || "").normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
}

// Map points matching `query`: whole name first, then names that start with it, then any
// name or artist that holds it; in the map's order (most popular first) within each.
function mapMatches(query) {
  const q = fold(query.trim());
  const rank = (p) => {
    const name = fold(p.name);
    if (name === q) return 0;
    if (name.startsWith(q)) return 1;
    if (name.includes(q) || fold(p.artist).includes(q)) return 2;
    return 3;
  };
  return songMap.points
    .map((p, i) => [rank(p), i, p])
    .filter(([r]) => r < 3)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .slice(0, MAP_MATCHES)
    .map(([, , p]) => p);
}

function findOnMap(event) {
  event.preventDefault();
  const query = $("map-input").value;
  const chips = $("map-matches");
  if (!songMap.points.length) return;
  const matches = mapMatches(query);
  chips.replaceChildren(
    ...matches.map((p) => el("li", {}, button(label(p), `Show ${label(p)} on the map`, () => pickOnMap(p)))),
  );
  if (!matches.length) {
    songMap.highlight(null);
    $("map-selection").hidden = true;
    setStatus($("map-status"), `No song on the map matches “${query.trim()}”.`);
    return;
  }
  pickOnMap(matches[0]);
}

async function pickOnMap(point) {
  const status = $("map-status");
  const fromList = $("map-neighbours").contains(document.activeElement);
  songMap.highlight(point.uri);
  if (fromList) $("map-canvas").focus();
  $("map-selected").textContent = label(point);
  $("map-neighbours").replaceChildren();
  $("map-selection").hidden = false;
  setStatus(status, `Showing ${label(point)}…`);
  try {
    const data = await api.similarTracks(point.uri, MAP_NEIGHBOURS_ASKED, latest("map"));
    const near = data.items.filter((t) => songMap.has(t.uri)).slice(0, MAP_NEIGHBOURS);
    songMap.highlight(point.uri, near.map((t) => t.uri));
    $("map-neighbours").replaceChildren(
      ...near.map((t) =>
        trackItem(t, el("div", { class: "buttons" }, addButton(t),
          button("Show", `Show ${label(t)} and its nearest songs on the map`, () => pickOnMap(t))))),
    );
    setStatus(status, `${label(point)}: ${plural(near.length, "nearest song")} on the map marked.`);
  } catch (error) {
    if (error.name === "AbortError") return;
    setStatus(status, `${label(point)}: ${errorText(error)}`, "error");
  }
}

// ---- the model ------------------------------------------------------------------------------

function formatNumber(value) {
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en");
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(3);
}

function formatTime(iso) {
  const time = iso ? new Date(iso) : null;
  if (!time) return "unknown";
  return Number.isNaN(time.getTime()) ? iso : time.toLocaleString();
}

async function loadModel() {
  const status = $("model-status");
  const facts = $("model-facts");
  const table = $("model-metrics");
  try {
    const data = await api.model();
    state.modelVersion = data.version;
    facts.replaceChildren(
      ...[["Version", data.version], ["Published", formatTime(data.published_at)],
        ["Songs", data.tracks === null ? "unknown" : formatNumber(data.tracks)],
        ["Vector size", data.dimension]]
        .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]),
    );
    const metrics = Object.entries(data.metrics || {}).sort(([a], [b]) => a.localeCompare(b));
    table.tBodies[0].replaceChildren(
      ...metrics.map(([name, value]) => el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, formatNumber(value)))),
    );
    table.hidden = metrics.length === 0;
    setStatus(status, metrics.length ? "" : "No evaluation figures were published with this version.");
  } catch (error) {
    state.modelVersion = null;
    facts.replaceChildren();
    table.hidden = true;
    setStatus(status, `The model's figures are not available: ${errorText(error)}`, "error");
  }
}

// A response from another version than the one shown (a new one went live, or none was live
// when the page loaded): show its figures and map.
function noteVersion(version) {
  if (state.modelVersion !== undefined && version !== state.modelVersion) {
    state.modelVersion = version;
    loadModel();
    loadMap();
  }
}

// ---- wiring ---------------------------------------------------------------------------------

function showValue(input, output) {
  const update = () => (output.textContent = Number(input.value).toFixed(2));
  input.addEventListener("input", update);
  update();
}

function start() {
  songMap = new EmbeddingMap($("map-canvas"), $("map-tip"), { onPick: pickOnMap });
  restore();
  renderPlaylist();
  showValue($("diversity"), $("diversity-value"));
  showValue($("explore"), $("explore-value"));
  $("search-form").addEventListener("submit", search);
  $("playlist-form").addEventListener("submit", (event) => {
    event.preventDefault();
    continuePlaylist();
  });
  $("playlist-title").addEventListener("input", save);
  $("similar-playlists-button").addEventListener("click", openSimilarPlaylists);
  $("clear-button").addEventListener("click", () => {
    state.playlist = [];
    state.dislikes = [];
    state.results = [];
    $("playlist-title").value = "";
    renderPlaylist();
    renderResults(null);
    setStatus($("results-status"), "Add songs or a title, then continue the playlist.");
  });
  $("map-form").addEventListener("submit", findOnMap);
  loadModel();
  loadMap();
}

start();
