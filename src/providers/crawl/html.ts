import { Parser } from "htmlparser2";

// The readable text of an HTML page, without a browser, on htmlparser2's tokenizer (which decodes
// entities, keeps scripts and styles opaque and closes what broken markup leaves open): boilerplate
// (navigation, footers, forms, hidden parts) is dropped with what it contains, blocks become lines,
// whitespace is collapsed. Links keep their anchor text even inside navigation, where careers and
// about links usually live. html-to-text was weighed and left out: it lays text out for reading
// (wrapping, link footnotes, padded tables), and the links and head fields would need a second parse.

export type ExtractedHtml = {
  title: string;
  description: string;
  /** One block per line. */
  text: string;
  links: Array<{ href: string; text: string }>;
  /** Sources of iframes and scripts: where embedded widgets (job boards) come from. */
  embeds: string[];
  baseHref: string | null;
};

/** Their content is neither text nor links: code, frames, what only shows without scripts. */
const OPAQUE = new Set(["script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes", "noscript", "template"]);
/** Boilerplate and non-text: their text is dropped, their links kept. */
const DROPPED = new Set(["nav", "footer", "aside", "form", "button", "select", "svg", "math", "dialog"]);
const DROPPED_ROLES = new Set(["navigation", "contentinfo", "complementary", "search", "dialog", "alertdialog"]);
const BLOCK = new Set([
  "address", "article", "blockquote", "br", "caption", "dd", "details", "div", "dl", "dt", "figcaption", "figure", "h1", "h2", "h3",
  "h4", "h5", "h6", "header", "hr", "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
]);
const CELL = new Set(["td", "th"]);

type Attributes = Record<string, string>;

const oneLine = (text: string) => text.replace(/[\s\u00a0]+/g, " ").trim();

function isDropped(name: string, attributes: Attributes): boolean {
  return DROPPED.has(name) || DROPPED_ROLES.has((attributes.role ?? "").toLowerCase()) || "hidden" in attributes || (attributes["aria-hidden"] ?? "").toLowerCase() === "true";
}

/**
 * What the parser has read so far. htmlparser2 closes every element it opens (void elements at once,
 * unclosed ones when their parent or the document ends), so depths can be counted by events.
 */
class Reader {
  title = "";
  description = "";
  baseHref: string | null = null;
  readonly embeds: string[] = [];
  readonly links: ExtractedHtml["links"] = [];
  private readonly out: string[] = [];
  /** Elements open inside an opaque one, itself included. */
  private opaque = 0;
  /** Elements open inside a dropped one, itself included. */
  private dropped = 0;
  private titleText: string[] | null = null;
  private anchor: { href: string; text: string[] } | null = null;

  onopentag(name: string, attributes: Attributes): void {
    if (this.opaque > 0) {
      this.opaque += 1;
      return;
    }
    if (name === "meta" && (attributes.name ?? "").toLowerCase() === "description" && !this.description) this.description = oneLine(attributes.content ?? "");
    if (name === "base" && attributes.href && this.baseHref === null) this.baseHref = attributes.href;
    if ((name === "iframe" || name === "script") && attributes.src) this.embeds.push(attributes.src);
    if (OPAQUE.has(name)) {
      if (name === "title" && !this.title) this.titleText = [];
      this.opaque = 1;
      return;
    }
    if (name === "a") {
      this.closeAnchor();
      if (attributes.href) this.anchor = { href: attributes.href, text: [] };
    }
    if (this.dropped > 0 || isDropped(name, attributes)) {
      this.dropped += 1;
      return;
    }
    this.separate(name);
    if (name === "img" && attributes.alt) this.out.push(` ${attributes.alt} `);
  }

  ontext(raw: string): void {
    if (this.opaque > 0) {
      this.titleText?.push(raw);
      return;
    }
    // Line breaks in the source are whitespace like any other; only block boundaries break lines.
    const text = raw.replace(/\s+/g, " ");
    if (this.dropped === 0) this.out.push(text);
    this.anchor?.text.push(text);
  }

  onclosetag(name: string): void {
    if (this.opaque > 0) {
      this.opaque -= 1;
      if (this.opaque === 0 && this.titleText) {
        this.title = oneLine(this.titleText.join(""));
        this.titleText = null;
      }
      return;
    }
    if (name === "a") this.closeAnchor();
    if (this.dropped > 0) this.dropped -= 1;
    this.separate(name);
  }

  result(): ExtractedHtml {
    this.closeAnchor();
    const lines = this.out
      .join("")
      .split("\n")
      .map(oneLine)
      .filter(Boolean);
    return { title: this.title, description: this.description, text: lines.join("\n"), links: this.links, embeds: this.embeds, baseHref: this.baseHref };
  }

  /** Blocks start and end lines, table cells are set apart; an open link's text gets a space either way. */
  private separate(name: string): void {
    const separator = BLOCK.has(name) ? "\n" : CELL.has(name) ? " " : "";
    if (!separator) return;
    if (this.dropped === 0) this.out.push(separator);
    this.anchor?.text.push(" ");
  }

  private closeAnchor(): void {
    if (this.anchor) this.links.push({ href: this.anchor.href, text: oneLine(this.anchor.text.join("")) });
    this.anchor = null;
  }
}

/** The readable text, title, meta description, links and embeds of an HTML document. */
export function extractHtml(html: string): ExtractedHtml {
  const reader = new Reader();
  const parser = new Parser(
    {
      onopentag: (name, attributes) => reader.onopentag(name, attributes),
      ontext: (text) => reader.ontext(text),
      onclosetag: (name) => reader.onclosetag(name),
    },
    { decodeEntities: true },
  );
  parser.end(html);
  return reader.result();
}
