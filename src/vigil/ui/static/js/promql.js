// PromQL for the editor: a small lexer (for highlighting) and the completion context at a caret.

export const FUNCTIONS = (
  "abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp " +
  "clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg " +
  "delta deriv double_exponential_smoothing exp first_over_time floor histogram_avg histogram_count " +
  "histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum holt_winters hour " +
  "idelta increase info irate label_join label_replace last_over_time ln log10 log2 mad_over_time " +
  "max_over_time min_over_time minute month pi predict_linear present_over_time quantile_over_time rad " +
  "rate resets round scalar sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc sqrt " +
  "stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp vector year"
).split(" ");
export const AGGREGATIONS = "sum avg count min max group stddev stdvar topk bottomk quantile count_values limitk limit_ratio".split(" ");
export const KEYWORDS = "by without on ignoring group_left group_right bool offset and or unless atan2 start end".split(" ");
const FN = new Set(FUNCTIONS);
const AGG = new Set(AGGREGATIONS);
const KW = new Set(KEYWORDS);

const DURATION = /^(?:\d+(?:ms|[smhdwy]))+/;
const NUMBER = /^(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[iI][nN][fF]|[nN][aA][nN])/;
const IDENT = /^[a-zA-Z_:][a-zA-Z0-9_:.]*/;
const OPS = ["=~", "!~", "!=", "==", ">=", "<=", "+", "-", "*", "/", "%", "^", "=", ">", "<", "@"];

// Tokens {type, start, end, open?}: types ws comment string number duration ident function
// aggregation keyword label op paren brace bracket comma colon error.
export function lex(text) {
  const out = [];
  let i = 0;
  let braces = 0;
  let brackets = 0;
  let afterBy = false; // inside by (...) / without (...) / on (...) ...: identifiers are labels
  let parenLabels = 0;
  while (i < text.length) {
    const c = text[i];
    const rest = text.slice(i);
    let m;
    const push = (type, len, extra = {}) => {
      out.push({ type, start: i, end: i + len, ...extra });
      i += len;
    };
    if (/\s/.test(c)) {
      m = rest.match(/^\s+/);
      push("ws", m[0].length);
    } else if (c === "#") {
      m = rest.match(/^#[^\n]*/);
      push("comment", m[0].length);
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) {
        if (text[j] === "\\" && c !== "`") j++;
        j++;
      }
      const open = j >= text.length;
      push("string", (open ? text.length : j + 1) - i, { open });
    } else if (brackets > 0 && (m = rest.match(DURATION))) {
      push("duration", m[0].length);
    } else if ((m = rest.match(DURATION)) && !/^\d+[eE]/.test(rest)) {
      push("duration", m[0].length);
    } else if (/[0-9.]/.test(c) && (m = rest.match(NUMBER))) {
      push("number", m[0].length);
    } else if ((m = rest.match(IDENT))) {
      const word = m[0];
      let type = "ident";
      if (braces > 0 || parenLabels > 0) type = "label";
      else if (/^(inf|nan)$/i.test(word)) type = "number";
      else if (KW.has(word.toLowerCase())) type = "keyword";
      else if (AGG.has(word.toLowerCase())) type = "aggregation";
      else if (FN.has(word) && /^\s*\(/.test(text.slice(i + word.length))) type = "function";
      afterBy = ["by", "without", "on", "ignoring", "group_left", "group_right"].includes(word.toLowerCase());
      push(type, word.length);
      continue;
    } else if (c === "{") {
      braces++;
      push("brace", 1);
    } else if (c === "}") {
      braces = Math.max(0, braces - 1);
      push("brace", 1);
    } else if (c === "[") {
      brackets++;
      push("bracket", 1);
    } else if (c === "]") {
      brackets = Math.max(0, brackets - 1);
      push("bracket", 1);
    } else if (c === "(") {
      if (afterBy) parenLabels++;
      push("paren", 1);
    } else if (c === ")") {
      parenLabels = Math.max(0, parenLabels - 1);
      push("paren", 1);
    } else if (c === ",") {
      push("comma", 1);
    } else if (c === ":") {
      push("colon", 1);
    } else {
      const op = OPS.find((o) => rest.startsWith(o));
      push(op ? "op" : "error", op ? op.length : 1);
    }
    if (out[out.length - 1].type !== "ws") afterBy = false;
  }
  return out;
}

// What to complete at `pos`: {kind: "metric"|"label"|"value"|null, prefix, from, metric, label, quoted}.
export function completionContext(text, pos) {
  const before = text.slice(0, pos);
  const toks = lex(before);
  const last = toks[toks.length - 1];
  // Inside a string: a label value (when the string follows a matcher operator inside braces).
  let depthBrace = 0;
  let depthLabels = 0;
  let metric = "";
  let braceMetric = "";
  let prevWord = "";
  for (let k = 0; k < toks.length; k++) {
    const t = toks[k];
    const s = before.slice(t.start, t.end);
    if (t.type === "brace" && s === "{") {
      depthBrace++;
      braceMetric = metric;
    } else if (t.type === "brace") depthBrace = Math.max(0, depthBrace - 1);
    else if (t.type === "paren" && s === "(" && ["by", "without", "on", "ignoring", "group_left", "group_right"].includes(prevWord)) depthLabels++;
    else if (t.type === "paren" && s === ")") depthLabels = Math.max(0, depthLabels - 1);
    if (t.type === "ident") metric = s;
    else if (t.type !== "ws" && t.type !== "brace") metric = t.type === "label" ? metric : "";
    if (t.type !== "ws") prevWord = s.toLowerCase();
  }
  if (!last) return { kind: "metric", prefix: "", from: pos };
  const lastText = before.slice(last.start, last.end);
  const sig = toks.filter((t) => t.type !== "ws");
  if (depthBrace > 0) {
    const prev = sig[sig.length - 1];
    const prev2 = sig[sig.length - 2];
    const prev3 = sig[sig.length - 3];
    if (last.type === "string" && last.open && prev2 && prev2.type === "op" && prev3 && prev3.type === "label") {
      return {
        kind: "value",
        prefix: lastText.slice(1),
        from: last.start + 1,
        metric: braceMetric,
        label: before.slice(prev3.start, prev3.end),
        quoted: true,
      };
    }
    if (prev && prev.type === "op" && prev2 && prev2.type === "label" && last.type !== "ws") {
      return { kind: "value", prefix: "", from: pos, metric: braceMetric, label: before.slice(prev2.start, prev2.end), quoted: false };
    }
    if (prev && prev.type === "op" && prev2 && prev2.type === "label") {
      return { kind: "value", prefix: "", from: pos, metric: braceMetric, label: before.slice(prev2.start, prev2.end), quoted: false };
    }
    if (last.type === "label") return { kind: "label", prefix: lastText, from: last.start, metric: braceMetric };
    if (last.type === "brace" || last.type === "comma" || last.type === "ws") return { kind: "label", prefix: "", from: pos, metric: braceMetric };
    return { kind: null };
  }
  if (depthLabels > 0) {
    if (last.type === "label") return { kind: "label", prefix: lastText, from: last.start, metric: "" };
    if (last.type === "paren" || last.type === "comma" || last.type === "ws") return { kind: "label", prefix: "", from: pos, metric: "" };
    return { kind: null };
  }
  if (["ident", "function", "aggregation", "keyword"].includes(last.type)) {
    return { kind: "metric", prefix: lastText, from: last.start };
  }
  if (last.type === "string" || last.type === "number" || last.type === "duration" || last.type === "comment") return { kind: null };
  if (last.type === "bracket") return { kind: null };
  return { kind: "metric", prefix: "", from: pos };
}

// The character offset of `line:col` (1-based) in text.
export function offsetOf(text, line, col) {
  let off = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", off);
    if (nl < 0) return text.length;
    off = nl + 1;
  }
  return Math.min(text.length, off + col - 1);
}

// {line, col, message} from an API error text such as `invalid parameter "query": 1:5: parse error: ...`.
export function parseErrorPosition(message) {
  const m = /(\d+):(\d+): parse error: (.*)$/s.exec(message);
  return m ? { line: +m[1], col: +m[2], message: m[3] } : null;
}
