// Formatting for humans: the same rules as dashboard/units.py (the browser test holds the
// two equal). Loaded first; app.js sets clock.offsetMs from the server's time.
"use strict";

const clock = { offsetMs: 0 }; // server time minus this browser's clock

const fmt = {
  duration(ms) {
    if (ms === null || ms === undefined) return "-";
    const seconds = Math.max(0, Math.round(ms / 1000));
    if (seconds < 60) return `${seconds} s`;
    for (const [unit, size, sub, subSize] of
      [["d", 86400, "h", 3600], ["h", 3600, "min", 60], ["min", 60, "s", 1]]) {
      if (seconds >= size) {
        const whole = Math.floor(seconds / size);
        const part = Math.floor((seconds % size) / subSize);
        return part && whole < 10 ? `${whole} ${unit} ${part} ${sub}` : `${whole} ${unit}`;
      }
    }
    return "-";
  },
  rate(perMinute) {
    if (perMinute === null || perMinute === undefined) return "-";
    const tenths = Math.round(perMinute * 10);
    return tenths < 100 ? `${(tenths / 10).toFixed(1)}/min` : `${Math.round(perMinute)}/min`;
  },
  // Local time of day with the zone (e.g. "14:59:09 CET"); the date too when not today.
  time(ms) {
    if (typeof ms !== "number") return "-";
    const date = new Date(ms);
    const today = new Date().toDateString() === date.toDateString();
    return new Intl.DateTimeFormat(undefined, {
      month: today ? undefined : "short", day: today ? undefined : "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
      timeZoneName: "short",
    }).format(date);
  },
  ago(ms) { return typeof ms === "number" ? `${fmt.duration(now() - ms)} ago` : "-"; },
  perWindow(count, startMs, endMs) {
    const span = Number(endMs) - Number(startMs);
    return span > 0 ? fmt.rate((Number(count) || 0) * 60000 / span) : "-";
  },
};


function now() { return Date.now() + clock.offsetMs; }
