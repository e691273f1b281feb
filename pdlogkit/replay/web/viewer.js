// pdlogkit's viewer: a replay (or a live gateway) watched in a browser, through its public interfaces only:
// the event stream (a websocket, one protobuf PurpleDropEvent per binary message) and JSON-RPC on POST /rpc.
// The replay's own methods (get_replay_info, get_markers, get_activity, get_camera_frame, playback_*) are
// optional: a live gateway answers them -32601, and the page then shows the live stream without a seek bar.
//
// Query parameters: ?rpc=URL (default /rpc on this host) and ?ws=URL (default: the port get_replay_info
// names, else the gateway's 7001, on this host).

import { BoardView } from "./board.js";
import { formatClock, formatTime } from "./format.js";
import { Plot } from "./plots.js";
import { SeekBar } from "./seekbar.js";
import { decodeEvent, seconds, WireError } from "./wire.js";

const METHOD_NOT_FOUND = -32601;
const GATEWAY_WS_PORT = 7001;
const STATUS_EVERY = 250; // ms between playback_status calls
const RETRY_MAX = 4; // s between reconnection attempts, at most
const SPEEDS = [0.25, 0.5, 1, 2, 5, 10, 30, 100];
const STEP = 5; // s an arrow key moves (shift: BIG_STEP)
const BIG_STEP = 30;

const params = new URLSearchParams(location.search);
const RPC_URL = params.get("rpc") || new URL("/rpc", location.href).href;

const $ = (id) => document.getElementById(id);

class RpcError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

class Unreachable extends Error {}

let rpcId = 0;

async function rpc(method, ...args) {
  let response;
  try {
    response = await fetch(RPC_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", method, params: args, id: ++rpcId }),
    });
  } catch {
    throw new Unreachable(`the control API at ${RPC_URL} is unreachable`);
  }
  let answer;
  try {
    answer = await response.json();
  } catch {
    throw new RpcError(0, `${method}: HTTP ${response.status} from ${RPC_URL}, not a JSON-RPC answer`);
  }
  if (answer.error) throw new RpcError(answer.error.code, `${method}: ${answer.error.message}`);
  return answer.result;
}

// A method the other side may not have (the replay's own): its result, or `fallback` when it is unknown.
async function optional(method, fallback) {
  try {
    return await rpc(method);
  } catch (error) {
    if (error instanceof RpcError && error.code === METHOD_NOT_FOUND) return fallback;
    throw error;
  }
}

function base64Bytes(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

const app = {
  info: null, // get_replay_info; null on a live gateway
  origin: null, // Unix seconds of playback position 0
  live: false, // no playback control: a live gateway
  status: null, // the latest playback_status
  statusAt: 0, // performance.now() when it came
  wsUrl: "",
  socket: null,
  attempts: 0,
  retryTimer: 0,
  seen: {}, // events received, per kind: a snapshot older than one of them is not shown
  frame: null, // the frame to show next: {bytes, timestamp}
  frameUrl: null,
  plotSeconds: 30,
  undecodable: 0,
};

const board = new BoardView($("board"), $("legend"));
const plots = {
  active: new Plot($("plot-active"), { title: "active capacitance", unit: "" }),
  group: new Plot($("plot-group"), { title: "group capacitance", unit: "", labels: (i) => `G${i}` }),
  hv: new Plot($("plot-hv"), { title: "high voltage", unit: "V" }),
  temperature: new Plot($("plot-temperature"), { title: "temperatures", unit: "°C", labels: (i) => `T${i}` }),
};
const seekbar = new SeekBar($("seekbar"), (t) => seek(t));

// --- what the page shows -------------------------------------------------------------

function note(text) {
  $("note").textContent = text || "";
}

function banner(text) {
  $("banner").hidden = !text;
  $("banner").textContent = text || "";
  $("connection").textContent = text ? "disconnected" : "connected";
  $("connection").className = `connection ${text ? "down" : "up"}`;
}

// A time of the stream (Unix seconds) as the plots count it: seconds from the log start when known.
function streamTime(timestamp) {
  const t = seconds(timestamp);
  if (t === null) return null;
  return app.origin !== null ? t - app.origin : t;
}

function axisLabel(t) {
  if (app.origin !== null) return formatTime(t);
  return formatClock(t).slice(11, 19);
}

function showFrame(bytes, timestamp) {
  app.frame = { bytes, timestamp };
}

function drawFrame() {
  const frame = app.frame;
  if (!frame) return;
  app.frame = null;
  const img = $("frame");
  if (app.frameUrl) URL.revokeObjectURL(app.frameUrl);
  if (!frame.bytes) {
    app.frameUrl = null;
    img.hidden = true;
    img.removeAttribute("src");
    delete img.dataset.timestamp;
    $("no-frame").hidden = false;
    $("frame-time").textContent = "no camera frame before this time";
    return;
  }
  app.frameUrl = URL.createObjectURL(new Blob([frame.bytes], { type: "image/jpeg" }));
  img.src = app.frameUrl;
  img.hidden = false;
  $("no-frame").hidden = true;
  const ts = frame.timestamp;
  if (ts && (ts.seconds || ts.nanos)) {
    img.dataset.timestamp = `${ts.seconds}.${String(ts.nanos).padStart(9, "0")}`;
    const unix = seconds(ts);
    const at = app.origin !== null ? `${formatTime(unix - app.origin)} · ` : "";
    $("frame-time").textContent = `frame ${at}${formatClock(unix)}`;
  } else {
    delete img.dataset.timestamp;
    $("frame-time").textContent = "frame (no timestamp)";
  }
}

function drivenGroups(state) {
  if (state.drive_groups.length) return state.drive_groups.map((g) => g.electrodes);
  return state.electrodes.length ? [state.electrodes] : [];
}

function position() {
  const s = app.status;
  if (!s) return NaN;
  if (!s.playing || !s.speed) return s.time;
  return Math.min(s.end, s.time + ((performance.now() - app.statusAt) / 1000) * s.speed);
}

function showStatus() {
  const s = app.status;
  if (app.live || !s) {
    $("position").textContent = app.live ? "live" : "–";
    $("speed-now").textContent = "";
    $("clients").textContent = "";
    $("state").textContent = "";
    return;
  }
  const t = position();
  $("position").textContent = `${formatTime(t)} / ${formatTime(s.duration)}`;
  $("speed-now").textContent = `×${s.speed}`;
  $("clients").textContent = `${s.clients} client${s.clients === 1 ? "" : "s"}`;
  const state = s.error
    ? `error: ${s.error}`
    : s.waiting
      ? "waiting for a client"
      : s.finished
        ? "finished"
        : s.paused
          ? "paused"
          : "playing";
  $("state").textContent = state;
  $("state").dataset.state = s.error ? "error" : state;
  seekbar.setPosition(t);
}

// A playback_status; `seeked`: the answer to this page's own seek. Any other position far from where the
// page expected it means someone else seeked (another page, a script, the terminal) or the replay started
// over: the page then asks for the state there, as after its own seeks.
function applyStatus(s, seeked = false) {
  const previous = app.status;
  const expected = position();
  app.status = s;
  app.statusAt = performance.now();
  if (!seeked && previous && Math.abs(s.time - expected) > 1 + 0.5 * previous.speed) {
    clearPlots();
    snapshot();
  }
  seekbar.setDuration(s.duration);
  $("play").textContent = s.paused || s.finished ? "▶" : "❚❚";
  const speed = $("speed");
  if (document.activeElement !== speed) {
    if (![...speed.options].some((o) => Number(o.value) === s.speed)) speed.add(new Option(`×${s.speed}`, s.speed));
    speed.value = String(s.speed);
  }
}

function render() {
  drawFrame();
  showStatus();
  const floor = app.origin !== null ? 0 : -Infinity;
  for (const plot of Object.values(plots)) plot.draw(app.plotSeconds, axisLabel, floor);
  requestAnimationFrame(render);
}

// --- the event stream ------------------------------------------------------------------

function onEvent(bytes) {
  let event;
  try {
    event = decodeEvent(bytes);
  } catch (error) {
    if (!(error instanceof WireError)) throw error;
    app.undecodable += 1;
    note(`${app.undecodable} event(s) could not be decoded (${error.message})`);
    return;
  }
  const { kind, message: m } = event;
  if (kind === null) return;
  app.seen[kind] = (app.seen[kind] || 0) + 1;
  switch (kind) {
    case "image":
      showFrame(m.image_data, m.timestamp);
      break;
    case "electrode_state":
      board.setDriven(drivenGroups(m));
      break;
    case "scan_capacitance":
      board.setCapacitance(m.measurements.map((x) => x.capacitance));
      break;
    case "active_capacitance":
      sample(plots.active, m.timestamp, [m.calibrated]);
      break;
    case "group_capacitance":
      sample(plots.group, m.timestamp, m.measurements);
      break;
    case "hv_regulator":
      sample(plots.hv, m.timestamp, [m.voltage]);
      break;
    case "temperature_control":
      sample(plots.temperature, m.timestamp, m.temperatures);
      break;
  }
}

function sample(plot, timestamp, values) {
  const t = streamTime(timestamp);
  if (t !== null && values.length) plot.add(t, values);
}

function clearPlots() {
  for (const plot of Object.values(plots)) plot.clear();
}

// Who is at the other end: the replay's log, ports, board, markers and activity (or a live gateway's board).
async function learnPeer() {
  app.info = await optional("get_replay_info", null);
  app.origin = app.info && app.info.origin !== null ? app.info.origin : null;
  const name = app.info ? app.info.log : "live gateway";
  $("log-name").textContent = name;
  document.title = `${name} · pdlogkit viewer`;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const port = app.info ? app.info.ws_port : GATEWAY_WS_PORT;
  app.wsUrl = params.get("ws") || `${scheme}://${location.hostname}:${port}/`;
  try {
    board.show(await rpc("get_board_definition"));
  } catch (error) {
    if (error instanceof Unreachable) throw error;
    board.clear(`no board to draw: ${error.message}`);
  }
  seekbar.setMarkers([]);
  seekbar.setActivity([]);
  optional("get_markers", [])
    .then((markers) => seekbar.setMarkers(markers))
    .catch((error) => note(error.message));
  optional("get_activity", [])
    .then((periods) => seekbar.setActivity(periods))
    .catch((error) => note(error.message));
}

async function connect() {
  clearTimeout(app.retryTimer);
  try {
    await learnPeer();
  } catch (error) {
    retry(error instanceof Unreachable ? error.message : `cannot start: ${error.message}`);
    return;
  }
  const socket = new WebSocket(app.wsUrl);
  socket.binaryType = "arraybuffer";
  app.socket = socket;
  socket.onopen = () => {
    app.attempts = 0;
    banner(null);
    clearPlots();
    snapshot();
  };
  socket.onmessage = (message) => onEvent(new Uint8Array(message.data));
  socket.onclose = (close) => {
    if (app.socket !== socket) return;
    app.socket = null;
    const why = close.code && close.code !== 1006 ? ` (code ${close.code}${close.reason ? `: ${close.reason}` : ""})` : "";
    retry(`The event stream ${app.wsUrl} is not reachable${why}`);
  };
}

function retry(reason) {
  app.attempts += 1;
  const delay = Math.min(RETRY_MAX, 0.25 * 2 ** (app.attempts - 1));
  banner(`${reason}. Reconnecting in ${delay.toFixed(delay < 1 ? 2 : 0)} s (attempt ${app.attempts})…`);
  clearTimeout(app.retryTimer);
  app.retryTimer = setTimeout(connect, delay * 1000);
}

// The state at the playback time, asked over JSON-RPC: after connecting and after a seek, the stream sends
// nothing until the next change (nothing at all while paused). What the stream sent meanwhile is newer.
async function snapshot() {
  const before = { ...app.seen };
  const fresh = (kind) => (app.seen[kind] || 0) === (before[kind] || 0);
  const [pins, scan, frame] = await Promise.allSettled([
    rpc("get_electrode_pins"),
    rpc("get_scan_capacitance"),
    app.info ? rpc("get_camera_frame") : Promise.resolve(undefined),
  ]);
  if (pins.status === "fulfilled" && fresh("electrode_state")) {
    board.setDriven(pins.value.drive_groups.map((g) => g.pins));
  }
  if (scan.status === "fulfilled" && fresh("scan_capacitance")) board.setCapacitance(scan.value.calibrated);
  if (frame.status === "fulfilled" && frame.value !== undefined && fresh("image")) {
    const f = frame.value;
    showFrame(f ? base64Bytes(f.jpeg) : null, f ? f.timestamp : null);
  }
}

async function pollStatus() {
  for (;;) {
    try {
      applyStatus(await rpc("playback_status"));
      setLive(false);
      if (app.socket) note(app.undecodable ? $("note").textContent : "");
    } catch (error) {
      if (error instanceof RpcError && error.code === METHOD_NOT_FOUND) setLive(true);
      else note(error.message);
    }
    await new Promise((resolve) => setTimeout(resolve, app.live ? 4 * STATUS_EVERY : STATUS_EVERY));
  }
}

function setLive(live) {
  app.live = live;
  $("controls").classList.toggle("live", live);
  if (live) app.status = null;
}

// --- control ---------------------------------------------------------------------------

async function control(method, ...args) {
  try {
    applyStatus(await rpc(method, ...args), method === "playback_seek");
    return true;
  } catch (error) {
    note(error.message);
    return false;
  }
}

async function seek(t) {
  const s = app.status;
  if (!s) return;
  const target = Math.min(s.end, Math.max(s.start, t));
  if (await control("playback_seek", target)) {
    clearPlots();
    await snapshot();
  }
}

// Pause, or play (a finished replay starts over); waiting for its first client counts as playing.
function togglePlaying() {
  const s = app.status;
  if (s) control("playback_enable", s.paused || s.finished);
}

function stepSpeed(direction) {
  if (!app.status) return;
  const current = app.status.speed;
  const next =
    direction > 0 ? SPEEDS.find((v) => v > current) : [...SPEEDS].reverse().find((v) => v < current && v > 0);
  if (next !== undefined) control("playback_speed", next);
}

function jumpToMarker(direction) {
  const t = position();
  const times = seekbar.marks.map((m) => m.time);
  const target =
    direction > 0 ? times.find((m) => m > t + 0.05) : [...times].reverse().find((m) => m < t - 0.5);
  if (target !== undefined) seek(target);
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || app.live) return;
  if (event.target instanceof HTMLSelectElement && event.key.startsWith("Arrow")) return;
  const step = event.shiftKey ? BIG_STEP : STEP;
  const actions = {
    " ": togglePlaying,
    ArrowLeft: () => seek(position() - step),
    ArrowRight: () => seek(position() + step),
    ArrowUp: () => stepSpeed(+1),
    ArrowDown: () => stepSpeed(-1),
    Home: () => seek(0),
    End: () => app.status && seek(app.status.end),
    "[": () => jumpToMarker(-1),
    "]": () => jumpToMarker(+1),
  };
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

$("play").addEventListener("click", (event) => {
  event.currentTarget.blur(); // space stays the page's shortcut, not a second click
  togglePlaying();
});
$("speed").addEventListener("change", (event) => {
  event.currentTarget.blur();
  control("playback_speed", Number(event.currentTarget.value));
});
$("window").addEventListener("change", (event) => {
  event.currentTarget.blur();
  app.plotSeconds = Number(event.currentTarget.value);
  for (const plot of Object.values(plots)) plot.dirty = true;
});
document.addEventListener("keydown", onKey);

connect();
pollStatus();
requestAnimationFrame(render);
