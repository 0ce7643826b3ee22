// How columns are described and cell values shown. Values are only ever written as text nodes or
// attributes, never as HTML: they come from AI answers and providers.

export const ENRICHMENT_LABELS = {
  work_email: "Work email",
  mobile_phone: "Mobile phone",
  hiring_status: "Hiring status",
  site_crawl: "Site crawl",
  website_overview: "Website overview",
  news_articles: "News articles",
  linkedin_posts: "LinkedIn posts",
};

/** The kinds a new column can be, per subject, with the credit action each is priced by (src/domain/column-kinds.ts). */
export const COLUMN_KINDS = [
  { id: "ai-web", label: "AI, searching the web", subjects: ["person", "company"], ai: true, dataSource: "web", action: () => "CUSTOM_ENRICHMENT_WEB" },
  { id: "ai-profile", label: "AI, from the row's own data", subjects: ["person", "company"], ai: true, dataSource: "profile", action: () => "CUSTOM_ENRICHMENT_AI" },
  { id: "work_email", label: "Enrichment: work email", subjects: ["person"], enrichmentType: "work_email", chargedInTask: true, action: () => "EMAIL_LOOKUP" },
  { id: "mobile_phone", label: "Enrichment: mobile phone", subjects: ["person"], enrichmentType: "mobile_phone", chargedInTask: true, action: () => "PHONE_LOOKUP" },
  { id: "hiring_status", label: "Enrichment: hiring status", subjects: ["company"], enrichmentType: "hiring_status", action: () => "HIRING_STATUS" },
  { id: "site_crawl", label: "Enrichment: site crawl", subjects: ["company"], enrichmentType: "site_crawl", action: () => "SITE_CRAWL_ENRICHMENT" },
  { id: "website_overview", label: "Enrichment: website overview", subjects: ["company"], enrichmentType: "website_overview", action: () => "WEBSITE_ENRICHMENT" },
  {
    id: "news_articles",
    label: "Enrichment: news articles",
    subjects: ["person", "company"],
    enrichmentType: "news_articles",
    action: (subject) => (subject === "company" ? "COMPANY_NEWS" : "PERSON_NEWS"),
  },
  { id: "linkedin_posts", label: "Enrichment: LinkedIn posts", subjects: ["person", "company"], enrichmentType: "linkedin_posts", action: () => "LINKEDIN_POSTS" },
  { id: "static", label: "Manual (written by hand, free)", subjects: ["person", "company"], action: () => null },
];

/** AI prompt columns: the only ones `generate` re-runs. */
export const isAiColumn = (column) => !column.enrichmentType && (column.source === "web" || column.source === "reasoning");

/** Columns filled by background work, which have progress worth a bar. */
export const isDynamicColumn = (column) => Boolean(column.enrichmentType) || isAiColumn(column);

/** The credit action re-running a column's cells is charged by. */
export function creditActionOf(column) {
  if (isAiColumn(column)) return column.source === "web" ? "CUSTOM_ENRICHMENT_WEB" : "CUSTOM_ENRICHMENT_AI";
  const kind = COLUMN_KINDS.find((k) => k.enrichmentType && k.enrichmentType === column.enrichmentType);
  return kind ? kind.action(column.subject) : null;
}

export function columnKindLabel(column) {
  if (column.builtInKey) return "built-in";
  if (column.enrichmentType) return ENRICHMENT_LABELS[column.enrichmentType] ?? column.enrichmentType;
  if (column.source === "web") return "AI · web";
  if (column.source === "reasoning") return "AI · profile";
  return "manual";
}

const OPEN = new Set(["pending", "processing"]);
const DONE = new Set(["completed", "complete"]);

export const isEmptyValue = (value) =>
  value === null || value === undefined || value === "" || (Array.isArray(value) && value.length === 0);

/** Progress counted from the cells the page holds, for a server that does not send it. */
export function progressFromCells(cells) {
  const progress = { total: 0, pending: 0, processing: 0, completed: 0, empty: 0, failed: 0 };
  for (const cell of cells) {
    progress.total += 1;
    if (cell.status === "pending") progress.pending += 1;
    else if (cell.status === "processing") progress.processing += 1;
    else if (cell.status === "failed") progress.failed += 1;
    else if (isEmptyValue(cell.value)) progress.empty += 1;
    else progress.completed += 1;
  }
  return progress;
}

const h = (tag, attrs = {}, ...children) => {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children.filter((child) => child !== null && child !== undefined));
  return el;
};
export { h };

const STATUS_LABELS = { pending: "Queued", processing: "Working", failed: "Failed" };

/** Fills `td` with the cell: a status badge while it is open or failed, else its typed value. */
export function renderCell(td, column, cell) {
  const status = cell?.status ?? "none";
  td.dataset.status = status;
  td.removeAttribute("title");
  if (!cell) {
    td.replaceChildren();
    return;
  }
  if (OPEN.has(status) || status === "failed") {
    const badge = h("span", { class: `badge badge-${status}` }, STATUS_LABELS[status]);
    if (status === "failed") td.title = cell.error ? `Failed: ${cell.error}` : "Failed";
    td.replaceChildren(badge);
    return;
  }
  if (isEmptyValue(cell.value)) {
    td.replaceChildren(h("span", { class: "value-empty", "aria-label": "no value" }, "—"));
    if (DONE.has(status) && isDynamicColumn(column)) td.title = cell.reasoning ?? "Filled, no value found";
    return;
  }
  td.replaceChildren(renderValue(cell.value, column.schema));
  // Long text is clamped in the grid: the whole of it, and how an AI column got there, on hover.
  const long = typeof cell.value === "string" && cell.value.length > 60 ? cell.value : null;
  const hover = [long, cell.reasoning ? `Why: ${cell.reasoning}` : null].filter(Boolean).join("\n\n");
  if (hover) td.title = hover;
}

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 });

function renderValue(value, schema) {
  const type = schema?.type;
  if (Array.isArray(value)) {
    const itemType = type === "list" ? (schema.itemType ?? "text") : type === "multiselect" ? "enum" : undefined;
    return h("span", { class: "chips" }, ...value.map((item) => chip(item, itemType)));
  }
  if (value !== null && typeof value === "object") return json(value);
  switch (type) {
    case "boolean":
      if (typeof value === "boolean") return bool(value);
      break;
    case "number":
      if (typeof value === "number") return number(value, schema);
      break;
    case "url":
      if (typeof value === "string") return link(value) ?? text(value);
      break;
    case "email":
      if (typeof value === "string") return h("a", { href: `mailto:${value}`, class: "value-email" }, value);
      break;
    case "phone":
      if (typeof value === "string") return h("a", { href: `tel:${value.replace(/[^\d+]/g, "")}`, class: "value-phone" }, value);
      break;
    case "enum":
      return h("span", { class: "chips" }, chip(value, "enum"));
    case "date":
      if (typeof value === "string") return h("time", { datetime: value, class: "value-date" }, value);
      break;
  }
  if (typeof value === "boolean") return bool(value);
  if (typeof value === "number") return number(value, schema);
  return link(String(value), { strict: true }) ?? text(String(value));
}

const bool = (value) => h("span", { class: `value-bool value-${value}` }, value ? "Yes" : "No");

function number(value, schema) {
  let shown = numberFormat.format(value);
  if (schema?.format === "percent") shown = `${shown}%`;
  else if (schema?.currency && /^[A-Za-z]{3}$/.test(schema.currency)) {
    try {
      shown = new Intl.NumberFormat(undefined, { style: "currency", currency: schema.currency.toUpperCase(), maximumFractionDigits: 0 }).format(value);
    } catch {
      /* an unknown currency code: the plain number */
    }
  }
  return h("span", { class: "value-number" }, shown);
}

const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}(?:\/\S*)?$/i;

/** A link for an http(s) URL (or, unless `strict`, a bare domain); null for anything else. */
function link(raw, { strict = false } = {}) {
  const value = raw.trim();
  let href = null;
  if (/^https?:\/\//i.test(value)) href = value;
  else if (!strict && DOMAIN.test(value)) href = `https://${value}`;
  if (!href) return null;
  try {
    const url = new URL(href);
    const shown = value.replace(/^https?:\/\/(www\.)?/i, "").replace(/\/$/, "");
    return h("a", { href: url.href, target: "_blank", rel: "noopener noreferrer", class: "value-url", title: url.href }, shown || url.host);
  } catch {
    return null;
  }
}

function chip(item, itemType) {
  if (itemType === "url" && typeof item === "string") {
    const a = link(item);
    if (a) {
      a.classList.add("chip");
      return a;
    }
  }
  if (item !== null && typeof item === "object") return h("span", { class: "chip chip-json" }, JSON.stringify(item));
  return h("span", { class: "chip" }, typeof item === "boolean" ? (item ? "Yes" : "No") : String(item));
}

function json(value) {
  const compact = JSON.stringify(value);
  return h("code", { class: "value-json", title: JSON.stringify(value, null, 2) }, compact);
}

const text = (value) => h("span", { class: "value-text" }, value);
