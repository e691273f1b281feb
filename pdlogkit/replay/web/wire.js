// The gateway's events, decoded from protobuf's wire format by hand (specs/messages.proto): each websocket
// message is one serialized PurpleDropEvent, a oneof whose field number is the kind. Only what the viewer
// draws is described; other fields are skipped. Missing fields take proto3's defaults (0, false, "", []),
// a missing message is null.

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;

export class WireError extends Error {}

const REPEATED = true;
const Timestamp = { 1: ["seconds", "int64"], 2: ["nanos", "int32"] };
const ElectrodeGroup = { 1: ["electrodes", "bool", REPEATED], 2: ["setting", "uint32"] };
const CapacitanceMeasurement = { 1: ["capacitance", "float"], 2: ["drop_present", "bool"], 3: ["raw", "float"] };

// Field number of PurpleDropEvent -> [kind, the message's fields {number: [name, type, repeated]}].
const EVENTS = {
  1: ["electrode_layout", { 1: ["timestamp", Timestamp], 2: ["layout", "string"] }],
  2: [
    "electrode_state",
    {
      1: ["timestamp", Timestamp],
      2: ["electrodes", "bool", REPEATED],
      3: ["drive_groups", ElectrodeGroup, REPEATED],
      4: ["scan_groups", ElectrodeGroup, REPEATED],
    },
  ],
  3: ["image", { 1: ["timestamp", Timestamp], 2: ["image_data", "bytes"] }],
  4: [
    "image_transform",
    {
      1: ["timestamp", Timestamp],
      2: ["transform", "float", REPEATED],
      4: ["image_width", "int32"],
      5: ["image_height", "int32"],
    },
  ],
  5: ["settings", { 1: ["timestamp", Timestamp], 2: ["frequency", "float"] }],
  6: ["scan_capacitance", { 1: ["timestamp", Timestamp], 2: ["measurements", CapacitanceMeasurement, REPEATED] }],
  7: [
    "active_capacitance",
    { 1: ["timestamp", Timestamp], 3: ["baseline", "float"], 4: ["measurement", "float"], 5: ["calibrated", "float"] },
  ],
  8: ["hv_regulator", { 1: ["voltage", "float"], 2: ["v_target_out", "float"], 3: ["timestamp", Timestamp] }],
  9: [
    "temperature_control",
    { 1: ["temperatures", "float", REPEATED], 2: ["duty_cycles", "float", REPEATED], 3: ["timestamp", Timestamp] },
  ],
  10: ["device_info", { 1: ["connected", "bool"], 2: ["serial_number", "string"], 3: ["software_version", "string"] }],
  11: [
    "group_capacitance",
    {
      1: ["timestamp", Timestamp],
      2: ["measurements", "float", REPEATED],
      3: ["raw_measurements", "float", REPEATED],
    },
  ],
  12: ["duty_cycle_updated", { 1: ["timestamp", Timestamp], 2: ["duty_cycles", "uint32", REPEATED] }],
};

const DEFAULTS = { bool: false, int32: 0, int64: 0, uint32: 0, float: 0, string: "", bytes: new Uint8Array(0) };
const utf8 = new TextDecoder();

class Reader {
  constructor(bytes, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  // A varint as a Number (exact below 2**53); `low32` keeps its low 32 bits, for int32's negative values.
  varint() {
    let value = 0;
    let scale = 1;
    let low = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError(`truncated varint at byte ${this.pos}`);
      const byte = this.bytes[this.pos++];
      value += (byte & 0x7f) * scale;
      if (i < 5) low |= (byte & 0x7f) << (7 * i);
      scale *= 128;
      if (!(byte & 0x80)) {
        this.low32 = low;
        return value;
      }
    }
    throw new WireError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  take(size) {
    if (size > this.end - this.pos) throw new WireError(`field of ${size} bytes runs past the end at byte ${this.pos}`);
    const start = this.pos;
    this.pos += size;
    return start;
  }

  float32() {
    return this.view.getFloat32(this.take(4), true);
  }

  skip(wireType) {
    if (wireType === VARINT) this.varint();
    else if (wireType === FIXED64) this.take(8);
    else if (wireType === FIXED32) this.take(4);
    else if (wireType === BYTES) this.take(this.varint());
    else throw new WireError(`unknown wire type ${wireType} at byte ${this.pos}`);
  }
}

function scalar(reader, type) {
  switch (type) {
    case "float":
      return reader.float32();
    case "bool":
      return reader.varint() !== 0;
    case "int32":
      reader.varint();
      return reader.low32 | 0;
    case "int64": {
      const value = reader.varint();
      return value >= 2 ** 63 ? value - 2 ** 64 : value;
    }
    default: // uint32
      return reader.varint();
  }
}

function decodeMessage(reader, fields) {
  const message = {};
  for (const [name, type, repeated] of Object.values(fields)) {
    message[name] = repeated ? [] : typeof type === "object" ? null : DEFAULTS[type];
  }
  while (reader.pos < reader.end) {
    const tag = reader.varint();
    const wireType = tag % 8;
    const field = fields[Math.floor(tag / 8)];
    if (field === undefined) {
      reader.skip(wireType);
      continue;
    }
    const [name, type, repeated] = field;
    let value;
    if (typeof type === "object") {
      if (wireType !== BYTES) throw new WireError(`${name}: a message needs wire type 2, not ${wireType}`);
      const size = reader.varint();
      const start = reader.take(size);
      value = decodeMessage(new Reader(reader.bytes, start, start + size), type);
    } else if (type === "string" || type === "bytes") {
      if (wireType !== BYTES) throw new WireError(`${name}: wire type 2 expected, not ${wireType}`);
      const size = reader.varint();
      const start = reader.take(size);
      const bytes = reader.bytes.subarray(start, start + size);
      value = type === "string" ? utf8.decode(bytes) : bytes;
    } else if (repeated && wireType === BYTES) {
      // A packed run of scalars.
      const size = reader.varint();
      const start = reader.take(size);
      const packed = new Reader(reader.bytes, start, start + size);
      while (packed.pos < packed.end) message[name].push(scalar(packed, type));
      continue;
    } else {
      const expected = type === "float" ? FIXED32 : VARINT;
      if (wireType !== expected) throw new WireError(`${name}: wire type ${expected} expected, not ${wireType}`);
      value = scalar(reader, type);
    }
    if (repeated) message[name].push(value);
    else message[name] = value;
  }
  return message;
}

// One event: {kind, message}; kind is null for a field number the viewer does not know. WireError if malformed.
export function decodeEvent(bytes) {
  const reader = new Reader(bytes);
  if (reader.end === 0) throw new WireError("empty event");
  const tag = reader.varint();
  const known = EVENTS[Math.floor(tag / 8)];
  if (known === undefined) return { kind: null, message: null };
  if (tag % 8 !== BYTES) throw new WireError(`event field ${Math.floor(tag / 8)}: wire type 2 expected`);
  const size = reader.varint();
  const start = reader.take(size);
  return { kind: known[0], message: decodeMessage(new Reader(bytes, start, start + size), known[1]) };
}

// A Timestamp as Unix seconds (null when absent or zero: the gateway leaves some events unstamped).
export function seconds(timestamp) {
  if (!timestamp || (timestamp.seconds === 0 && timestamp.nanos === 0)) return null;
  return timestamp.seconds + timestamp.nanos / 1e9;
}
