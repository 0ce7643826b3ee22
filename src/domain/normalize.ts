// Normalised forms of the stable identifiers that dedupe leads, rows and company rows. The same
// functions feed the unique keys in the database and the lookups, so the two always agree.

const blank = (value: string | null | undefined): value is null | undefined => value == null || value.trim() === "";

/** "https://www.LinkedIn.com/in/Ada-Lovelace/?utm=x" → "linkedin.com/in/ada-lovelace" */
export function linkedinKey(url: string | null | undefined): string | null {
  if (blank(url)) return null;
  let text = url.trim().toLowerCase();
  text = text.replace(/^[a-z]+:\/\//, "").replace(/^([a-z0-9-]+\.)*linkedin\.com/, "linkedin.com");
  text = text.split(/[?#]/)[0]!.replace(/\/+$/, "");
  return text || null;
}

export function emailKey(email: string | null | undefined): string | null {
  if (blank(email)) return null;
  return email.trim().toLowerCase();
}

/** "https://www.Acme.com/about" → "acme.com" */
export function domainKey(domain: string | null | undefined): string | null {
  if (blank(domain)) return null;
  let text = domain.trim().toLowerCase();
  text = text.replace(/^[a-z]+:\/\//, "").split(/[/?#]/)[0]!.replace(/^www\./, "").replace(/\.$/, "");
  return text || null;
}

/** Case- and whitespace-insensitive key for names, companies and locations. */
export function textKey(text: string | null | undefined): string | null {
  if (blank(text)) return null;
  return text.trim().toLowerCase().replace(/\s+/g, " ");
}

/** "Ada  King Lovelace" → { first: "Ada", last: "King Lovelace" }: splits on the first whitespace. */
export function splitName(full: string | null | undefined): { first: string | null; last: string | null } {
  if (blank(full)) return { first: null, last: null };
  const trimmed = full.trim();
  const at = trimmed.search(/\s/);
  if (at < 0) return { first: trimmed, last: null };
  return { first: trimmed.slice(0, at), last: trimmed.slice(at).trim() || null };
}

export function joinName(first: string | null | undefined, last: string | null | undefined): string | null {
  const parts = [first, last].filter((p): p is string => !blank(p)).map((p) => p.trim());
  return parts.length ? parts.join(" ") : null;
}
