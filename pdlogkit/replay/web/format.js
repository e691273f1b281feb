// Times as people read them.

// Seconds from the log start as h:mm:ss.s (m:ss.s under an hour).
export function formatTime(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  const sign = seconds < 0 ? "-" : "";
  const tenths = Math.round(Math.abs(seconds) * 10);
  const h = Math.floor(tenths / 36000);
  const m = Math.floor((tenths % 36000) / 600);
  const s = ((tenths % 600) / 10).toFixed(1).padStart(4, "0");
  return h ? `${sign}${h}:${String(m).padStart(2, "0")}:${s}` : `${sign}${m}:${s}`;
}

// Unix seconds as a UTC date and time to the millisecond.
export function formatClock(unixSeconds) {
  if (!Number.isFinite(unixSeconds)) return "–";
  return new Date(unixSeconds * 1000).toISOString().replace("T", " ").replace("Z", " UTC");
}
