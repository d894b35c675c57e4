// labctl serve: helpers shared by the pages (no dependencies).
"use strict";

const PREFIXES = { "-24": "y", "-21": "z", "-18": "a", "-15": "f", "-12": "p", "-9": "n",
  "-6": "µ", "-3": "m", "0": "", "3": "k", "6": "M", "9": "G", "12": "T" };
const SUPERSCRIPT = { "-": "⁻", "0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵",
  "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹" };

// A value in SI unit `unit` as people read it (as labctl.units.format_si): an SI prefix
// on a plain unit (460 µW), scientific notation for a unit with an exponent (1.84×10⁻³ V²)
// or a dimensionless number far from 1; "–" for null/NaN.
function formatSI(value, unit = "", digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const suffix = unit ? " " + unit : "";
  if (value === 0) return "0" + suffix;
  if (!Number.isFinite(value)) return (value > 0 ? "inf" : "-inf") + suffix;
  value = Number(value.toPrecision(digits));  // 0.99999 V is 1 V, not 1000 mV
  const exp10 = Math.floor(Math.log10(Math.abs(value)));
  const plainUnit = unit && !/[²³^]/.test(unit);
  if (!plainUnit) {
    if (exp10 >= -2 && exp10 < 4) return trim(value.toPrecision(digits)) + suffix;
    const m = value / 10 ** exp10;
    const exp = String(exp10).split("").map((c) => SUPERSCRIPT[c]).join("");
    return `${trim(m.toPrecision(digits))}×10${exp}` + suffix;
  }
  let power = Math.floor(exp10 / 3) * 3;
  power = Math.max(-24, Math.min(12, power));
  return `${trim((value / 10 ** power).toPrecision(digits))} ${PREFIXES[String(power)]}${unit}`;
}

function trim(text) {
  return text.includes(".") && !text.includes("e") ? text.replace(/\.?0+$/, "") : text;
}

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return seconds < 10 ? `${trim(seconds.toPrecision(3))} s` : `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

function formatStart(iso) {
  if (!iso) return "–";
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return t.toISOString().replace("T", " ").slice(0, 19);
}

async function getJSON(url) {
  const answer = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  let body = null;
  try { body = await answer.json(); } catch (e) { body = null; }
  if (!answer.ok) {
    const text = body && body.error ? body.error : `${answer.status} ${answer.statusText}`;
    throw new Error(text);
  }
  return body;
}

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function badge(status) {
  const b = el("span", { class: "badge " + status }, status);
  return b;
}

function cell(row, text, cls = "") {
  const td = el("td", cls ? { class: cls } : {}, text);
  row.appendChild(td);
  return td;
}

// Poll `fn` every `ms` ms (the next call waits for the previous one to finish).
function every(ms, fn) {
  let stopped = false;
  const loop = async () => {
    if (stopped) return;
    try { await fn(); } catch (e) { console.error(e); }
    setTimeout(loop, ms);
  };
  loop();
  return () => { stopped = true; };
}
